"""Delivery reads agree with the DORA engine: counts by kind, one deployment's story, PR stages."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ingest.ndjson import import_files
from metrics import Filters, dora_summary
from metrics.derived import prepare
from models import Deployment
from reports import delivery
from tests.conftest import FIXTURES

WINDOW = Filters(since=datetime(2026, 3, 1, tzinfo=UTC), until=datetime(2026, 3, 8, tzinfo=UTC))


@pytest.fixture
def imported(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    import_files(sessions, [FIXTURES / "ndjson" / "valid.ndjson"])
    return sessions


def test_counts_by_kind_add_up_to_the_deployment_frequency(
    imported: sessionmaker[Session],
) -> None:
    with imported.begin() as session:
        counts = delivery.deployment_counts(session, WINDOW)
        summary = dora_summary(session, WINDOW)

    assert [(c.start.day, c.service, c.label, c.deployments) for c in counts] == [
        (1, "api", "normal", 1),  # Sunday 1 March: the partial first week
        (2, "api", "normal", 1),
    ]
    assert sum(c.deployments for c in counts) == summary.deployment_frequency.deployments


def test_a_failed_deployment_shows_its_commits_incident_and_restoration(
    imported: sessionmaker[Session],
) -> None:
    with imported.begin() as session:
        deployment_id = session.scalar(
            select(Deployment.id).where(Deployment.external_id == "dep-17")
        )
        assert deployment_id is not None
        detail = delivery.deployment_detail(session, prepare(session, WINDOW), deployment_id)

    assert detail is not None
    assert (detail.label, detail.failed) == ("normal", True)
    assert [(c.sha, round(c.lead_hours or 0, 3)) for c in detail.commits] == [
        ("b2b2b2b2", round(4 + 5 / 60, 3))  # authored 08:00Z, deployed 12:05Z
    ]
    assert [(i.external_id, i.rule) for i in detail.incidents] == [("INC-7", "deployment_id")]
    assert [(c.rule, c.by) for c in detail.causes] == [("incident", "INC-7")]
    assert detail.restored_at == datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
    assert detail.recovery_hours == pytest.approx(2 + 25 / 60)


def test_a_deployment_the_engine_does_not_count_has_no_detail(
    imported: sessionmaker[Session],
) -> None:
    with imported.begin() as session:
        assert delivery.deployment_detail(session, prepare(session, WINDOW), -1) is None


def test_a_merged_pull_request_splits_into_coding_review_and_waiting(
    imported: sessionmaker[Session],
) -> None:
    with imported.begin() as session:
        [stages] = delivery.pull_request_stages(session, prepare(session, WINDOW))

    assert (stages.number, stages.service) == (42, "api")
    assert stages.coding_hours == pytest.approx(0.5)  # first commit 08:00, opened 08:30
    assert stages.review_hours == pytest.approx(2.5)  # merged 11:00
    assert stages.waiting_hours == pytest.approx(1 + 5 / 60)  # dep-17 shipped the merge 12:05


def test_lead_time_samples_and_the_slowest_match_the_summary(
    imported: sessionmaker[Session],
) -> None:
    with imported.begin() as session:
        scope = prepare(session, WINDOW)
        hours = delivery.lead_time_hours(session, scope)
        slowest = delivery.slowest_changes(session, scope, limit=5)
        summary = dora_summary(session, WINDOW)

    assert len(hours) == summary.change_lead_time.samples
    assert [(s.deployment, s.sha) for s in slowest] == [("dep-17", "b2b2b2b2")]
