"""Gate evaluation on real data: every check's verdict, evidence, and the fail-safe rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from releases.checks import Status
from releases.gates import GateEvaluation, evaluate, target_for
from settings import Settings
from tests.releases.data import (
    build,
    case_result,
    deployment,
    incident,
    monitor,
    settings_from,
    store,
)

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
OLD, NEW = "aaaa1111", "bbbb2222"
ALL_CHECKS = """
[services.api]
repos = ["acme/api"]
environments = ["staging", "production"]

[[gates]]
service = "api"
environment = "production"
approvals = 1
[gates.checks]
builds_green = {}
test_pass_rate = { min_rate = 0.9 }
no_new_failing_tests = {}
open_incidents = { min_severity = "sev2" }
monitors = { max_age_minutes = 15 }
error_rate = { max_rate = 0.02, window_minutes = 30 }
soak = { minutes = 60 }
"""


def healthy(sessions: sessionmaker[Session]) -> None:
    """1.1 runs in production; 1.2 is green, soaked in staging, monitors calm."""
    store(
        sessions,
        build(OLD, id="b-old"),
        case_result("b-old", "test_a", "passed"),
        case_result("b-old", "test_b", "passed"),
        build(NEW, id="b-new"),
        case_result("b-new", "test_a", "passed"),
        case_result("b-new", "test_b", "failed", attempt=1),
        case_result("b-new", "test_b", "passed", attempt=2),  # flaky, passed on retry
        deployment("production", "1.1", OLD, NOW - timedelta(days=2)),
        deployment("staging", "1.2", NEW, NOW - timedelta(hours=3)),
        monitor("api.latency_p99", "ok", NOW - timedelta(minutes=5), 120.0),
        monitor("api.error_rate", "ok", NOW - timedelta(minutes=5), 0.004),
        incident("INC-1", "sev1", NOW - timedelta(days=1), resolved_at="2026-03-09T14:00:00Z"),
    )


def gate(
    sessions: sessionmaker[Session],
    settings: Settings,
    version: str = "1.2",
    *,
    approvers: list[str] | None = None,
    at: datetime = NOW,
) -> GateEvaluation:
    with sessions() as session:
        target = target_for(
            session,
            settings,
            "api",
            "production",
            version,
            requester="ana",
            approvers=approvers if approvers is not None else ["bo"],
        )
        return evaluate(session, settings, target, at)


def statuses(evaluation: GateEvaluation) -> dict[str, str]:
    return {check.name: str(check.status) for check in evaluation.checks}


def test_a_healthy_candidate_passes_every_check(sessions: sessionmaker[Session]) -> None:
    healthy(sessions)

    evaluation = gate(sessions, settings_from(ALL_CHECKS))

    assert statuses(evaluation) == {
        "builds_green": "pass",
        "test_pass_rate": "pass",
        "no_new_failing_tests": "pass",
        "open_incidents": "pass",
        "monitors": "pass",
        "error_rate": "pass",
        "soak": "pass",
        "approvals": "pass",
    }
    assert evaluation.verdict is Status.passed
    assert evaluation.sha == NEW
    assert evaluation.evaluated_at == NOW
    evidence = {check.name: check.evidence for check in evaluation.checks}
    assert evidence["builds_green"]["builds"][0]["id"] == "b-new"
    assert evidence["test_pass_rate"]["rate"] == 1.0
    assert evidence["error_rate"]["highest"] == 0.004
    assert evidence["soak"]["soaked_minutes"] == 180.0


def test_no_data_at_all_needs_a_human_and_never_passes(sessions: sessionmaker[Session]) -> None:
    evaluation = gate(sessions, settings_from(ALL_CHECKS), approvers=[])

    assert statuses(evaluation) == {
        "builds_green": "needs_human",
        "test_pass_rate": "needs_human",
        "no_new_failing_tests": "needs_human",
        "open_incidents": "pass",
        "monitors": "needs_human",
        "error_rate": "needs_human",
        "soak": "needs_human",
        "approvals": "needs_human",
    }
    assert evaluation.verdict is Status.needs_human


@pytest.mark.parametrize(
    ("extra", "check", "status", "summary"),
    [
        pytest.param(
            [build(NEW, "failure", id="b-new-2", pipeline="deploy-check")],
            "builds_green",
            "fail",
            "1 of 2 pipelines failed",
            id="a-failed-pipeline",
        ),
        pytest.param(
            [build(NEW, "running", id="b-new-3", pipeline="e2e")],
            "builds_green",
            "needs_human",
            "builds not all green yet (running)",
            id="a-running-pipeline",
        ),
        pytest.param(
            [case_result("b-new", "test_c", "failed"), case_result("b-old", "test_c", "passed")],
            "no_new_failing_tests",
            "fail",
            "1 newly failing tests",
            id="a-test-that-passed-before",
        ),
        pytest.param(
            [incident("INC-2", "SEV-1", NOW - timedelta(hours=1))],
            "open_incidents",
            "fail",
            "1 open incidents at sev2 or worse (INC-2)",
            id="open-sev1",
        ),
        pytest.param(
            [incident("INC-3", "sev3", NOW - timedelta(hours=1))],
            "open_incidents",
            "pass",
            "no open production incident at sev2 or worse",
            id="open-sev3-is-milder",
        ),
        pytest.param(
            [incident("INC-4", "sev1", NOW - timedelta(hours=1), environment="staging")],
            "open_incidents",
            "pass",
            "no open production incident at sev2 or worse",
            id="staging-incident",
        ),
        pytest.param(
            [incident("INC-5", "whoops", NOW - timedelta(hours=1))],
            "open_incidents",
            "needs_human",
            "an open incident or the threshold has a severity Flightdeck cannot rank",
            id="unrankable-severity",
        ),
        pytest.param(
            [monitor("api.latency_p99", "alert", NOW - timedelta(minutes=1), 900.0)],
            "monitors",
            "fail",
            "alerting: api.latency_p99",
            id="an-alerting-monitor",
        ),
        pytest.param(
            [monitor("api.slo", "ok", NOW - timedelta(minutes=40))],
            "monitors",
            "needs_human",
            "older than 15 min: api.slo",
            id="a-stale-monitor",
        ),
        pytest.param(
            [monitor("api.slo", "no_data", NOW - timedelta(minutes=1))],
            "monitors",
            "needs_human",
            "not OK: api.slo",
            id="a-monitor-without-data",
        ),
        pytest.param(
            [monitor("api.error_rate", "warn", NOW - timedelta(minutes=20), 0.05)],
            "error_rate",
            "fail",
            "highest 5.00% in 30 min (limit 2.00%)",
            id="error-spike",
        ),
    ],
)
def test_one_bad_signal_decides_its_check(
    sessions: sessionmaker[Session],
    extra: list[dict[str, object]],
    check: str,
    status: str,
    summary: str,
) -> None:
    healthy(sessions)
    store(sessions, *extra)

    evaluation = gate(sessions, settings_from(ALL_CHECKS))

    result = next(result for result in evaluation.checks if result.name == check)
    assert (str(result.status), result.summary) == (status, summary)
    assert str(evaluation.verdict) == status


def test_error_rates_older_than_the_window_are_missing_data(
    sessions: sessionmaker[Session],
) -> None:
    healthy(sessions)

    evaluation = gate(sessions, settings_from(ALL_CHECKS), at=NOW + timedelta(hours=1))

    assert statuses(evaluation)["error_rate"] == "needs_human"
    assert statuses(evaluation)["monitors"] == "needs_human"


def test_a_version_not_soaked_long_enough_fails_until_it_is(
    sessions: sessionmaker[Session],
) -> None:
    healthy(sessions)
    store(sessions, deployment("staging", "1.3", NEW, NOW - timedelta(minutes=20)))

    evaluation = gate(sessions, settings_from(ALL_CHECKS), version="1.3")

    soak = next(result for result in evaluation.checks if result.name == "soak")
    assert (soak.status, soak.summary) == (Status.failed, "soaked 20 of 60 min in staging")
    assert soak.evidence["ready_at"] == (NOW + timedelta(minutes=40)).isoformat()


def test_the_requester_never_counts_as_an_approver(sessions: sessionmaker[Session]) -> None:
    healthy(sessions)

    evaluation = gate(sessions, settings_from(ALL_CHECKS), approvers=["ana"])

    approvals = next(result for result in evaluation.checks if result.name == "approvals")
    assert (approvals.status, approvals.summary) == (Status.needs_human, "0 of 1 approvals")


def test_an_advisory_failure_is_shown_but_does_not_block(sessions: sessionmaker[Session]) -> None:
    healthy(sessions)
    store(sessions, monitor("api.latency_p99", "alert", NOW - timedelta(minutes=1)))
    advisory = ALL_CHECKS.replace(
        "monitors = { max_age_minutes = 15 }", 'monitors = { mode = "advisory" }'
    )

    evaluation = gate(sessions, settings_from(advisory))

    assert statuses(evaluation)["monitors"] == "fail"
    assert evaluation.verdict is Status.passed
    assert evaluation.to_dict()["checks"][4]["mode"] == "advisory"


def test_a_freeze_window_fails_the_gate_and_a_broken_one_needs_a_human(
    sessions: sessionmaker[Session],
) -> None:
    healthy(sessions)
    frozen = ALL_CHECKS + (
        '[[gates.freezes]]\ntimezone = "Europe/Berlin"\ncron = "0 12 * * 2"\nminutes = 120\n'
        'reason = "release review"\n'
    )
    broken = ALL_CHECKS + '[[gates.freezes]]\ncron = "99 * * * *"\nminutes = 5\n'

    evaluation = gate(sessions, settings_from(frozen))
    unreadable = gate(sessions, settings_from(broken))

    assert statuses(evaluation)["freeze"] == "fail"
    assert evaluation.checks[-2].summary == "release review until 2026-03-10 13:00 UTC"
    assert statuses(unreadable)["freeze"] == "needs_human"
    assert unreadable.verdict is Status.needs_human


def test_without_a_policy_there_is_nothing_to_check(sessions: sessionmaker[Session]) -> None:
    evaluation = gate(sessions, settings_from(""))

    assert (evaluation.policy, evaluation.checks, evaluation.verdict) == (False, [], Status.passed)


def test_the_star_policy_applies_to_services_without_their_own(
    sessions: sessionmaker[Session],
) -> None:
    settings = settings_from(
        '[[gates]]\nservice = "*"\nenvironment = "Production"\n[gates.checks]\nbuilds_green = {}\n'
    )

    evaluation = gate(sessions, settings)

    assert statuses(evaluation) == {"builds_green": "needs_human"}
