"""Incident-to-deployment links: each rule, their priority, and what stays unattributed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from metrics import EngineConfig, Filters
from metrics.drilldown import incidents, unattributed_incidents
from tests.metrics.history import History, at, summarize


def links(
    sessions: sessionmaker[Session], config: EngineConfig | None = None
) -> dict[str, tuple[str | None, str | None]]:
    """Incident id -> (linked deployment id, rule)."""
    filters = Filters(since=at(0), until=at(24 * 30), config=config or EngineConfig())
    with sessions.begin() as session:
        return {row.external_id: (row.deployment, row.rule) for row in incidents(session, filters)}


def three_releases(world: History) -> None:
    world.chain("c1", "c2", "c3")
    world.deploy("d1", 10, commit="c1", version="1")
    world.deploy("d2", 20, commit="c2", version="2")
    world.deploy("d3", 30, commit="c3", version="3")


def test_rule_1_links_the_deployment_the_incident_names(sessions: sessionmaker[Session]) -> None:
    world = History()
    three_releases(world)
    # It also names a version and falls in d3's window: rule 1 comes first.
    world.incident("i1", 31, 32, deployment="d1", version="2")
    world.write(sessions)

    assert links(sessions) == {"i1": ("d1", "deployment_id")}


def test_rule_1_prefers_the_incidents_own_source(sessions: sessionmaker[Session]) -> None:
    world = History()
    world.deploy("x", 10, version="1", source="github")
    world.deploy("x", 20, version="2", source="pagerduty")
    world.incident("i1", 25, 26, deployment="x", source="pagerduty")
    world.incident("i2", 25, 26, deployment="x", source="import")  # any source: earliest
    world.write(sessions)

    with sessions.begin() as session:
        rows = incidents(session, Filters(since=at(0), until=at(100), config=EngineConfig()))
    linked = {row.external_id: row.deployment for row in rows}
    assert linked == {"i1": "x", "i2": "x"}
    failed = summarize(sessions).change_fail_rate
    assert failed.failed == 2


def test_rule_1_skips_a_named_deployment_that_is_not_a_successful_production_one(
    sessions: sessionmaker[Session],
) -> None:
    world = History()
    three_releases(world)
    world.deploy("s1", 29, version="3", environment="staging")
    world.deploy("f1", 30.5, version="4", status="failure")
    world.incident("i1", 31, 32, deployment="s1", version="2")
    world.incident("i2", 31, 32, deployment="f1")
    world.incident("i3", 31, 32, deployment="d1", service="other")
    world.write(sessions)

    assert links(sessions) == {
        "i1": ("d2", "version"),
        "i2": ("d3", "time_window"),
        "i3": (None, None),
    }


def test_rule_2_links_the_earliest_deployment_that_shipped_the_root_cause(
    sessions: sessionmaker[Session],
) -> None:
    world = History()
    three_releases(world)
    world.deploy("d4", 40, commit="c2", version="2")  # a rollback to c2 has the same sha
    world.incident("i1", 41, 42, root_cause="c2", version="3")
    world.incident("i2", 41, 42, root_cause="c3")
    world.incident("i3", 41, 42, root_cause="unknown", version="1")
    world.write(sessions)

    assert links(sessions) == {
        "i1": ("d2", "root_cause_sha"),
        "i2": ("d3", "root_cause_sha"),
        "i3": ("d1", "version"),
    }


def test_rule_2_matches_the_deployment_sha_itself(sessions: sessionmaker[Session]) -> None:
    world = History()
    world.deploy("d1", 10, commit="c9", version="1")  # first deployment: C(d) is empty
    world.incident("i1", 100, 101, root_cause="c9")
    world.write(sessions)

    assert links(sessions) == {"i1": ("d1", "root_cause_sha")}


def test_rule_3_links_the_latest_non_rollback_with_the_version_without_time_bound(
    sessions: sessionmaker[Session],
) -> None:
    world = History()
    world.deploy("d1", 10, version="1")
    world.deploy("d2", 20, version="2")
    world.deploy("d3", 30, version="2", kind="redeploy")
    world.deploy("d4", 40, version="3")
    world.deploy("d5", 50, version="2")  # a rollback to 2: never rule 3's target
    world.incident("i1", 5, 400, version="2")  # opened before any deployment of 2
    world.write(sessions)

    assert links(sessions) == {"i1": ("d3", "version")}


def test_rule_4_links_the_latest_deployment_within_the_window(
    sessions: sessionmaker[Session],
) -> None:
    world = History()
    three_releases(world)
    world.deploy("r", 32, commit="c2", version="2")  # a rollback: skipped by rule 4
    world.incident("i1", 35, 36)
    world.incident("at-the-edge", 54, 55)  # d3 finished exactly 24 h before
    world.incident("too-late", 54.5, 55)
    world.incident("at-the-finish", 20, 21)  # finished at or before opened_at
    world.write(sessions)

    assert links(sessions) == {
        "i1": ("d3", "time_window"),
        "at-the-edge": ("d3", "time_window"),
        "too-late": (None, None),
        "at-the-finish": ("d2", "time_window"),
    }


def test_the_attribution_window_is_configurable(sessions: sessionmaker[Session]) -> None:
    world = History()
    three_releases(world)
    world.incident("i1", 32, 33)
    world.write(sessions)

    narrow = EngineConfig(attribution_window=timedelta(hours=1))
    assert links(sessions, narrow) == {"i1": (None, None)}
    assert links(sessions) == {"i1": ("d3", "time_window")}


def test_only_production_incidents_are_linked_and_unnamed_environments_are_production(
    sessions: sessionmaker[Session],
) -> None:
    world = History()
    three_releases(world)
    world.incident("prod", 31, 32, environment="PROD")
    world.incident("unnamed", 31, 33, environment=None)
    world.incident("staging", 31, 34, environment="staging")
    world.write(sessions)

    summary = summarize(sessions)

    assert links(sessions) == {"prod": ("d3", "time_window"), "unnamed": ("d3", "time_window")}
    assert summary.time_to_restore.samples == 2


def test_incidents_outside_the_window_stay_unattributed_and_are_listed(
    sessions: sessionmaker[Session],
) -> None:
    world = History()
    three_releases(world)
    world.incident("i1", 100, 103)
    world.incident("i2", 5, None)  # before any deployment, still open
    world.write(sessions)

    summary = summarize(sessions)

    assert summary.unattributed_incidents == 2
    assert summary.change_fail_rate.failed == 0
    ttr = summary.time_to_restore
    assert (ttr.samples, ttr.median_hours, ttr.p90_hours) == (1, 3.0, 3.0)
    with sessions.begin() as session:
        rows = unattributed_incidents(
            session, Filters(since=at(0), until=at(720), config=EngineConfig())
        )
    assert [row.external_id for row in rows] == ["i1", "i2"]


def test_an_incident_linked_to_a_rollback_is_attributed_but_fails_nothing(
    sessions: sessionmaker[Session],
) -> None:
    world = History()
    world.deploy("d1", 10, version="1")
    world.deploy("d2", 20, version="2")
    world.deploy("r", 25, version="1")
    world.incident("i1", 26, 27, deployment="r")
    world.write(sessions)

    summary = summarize(sessions)

    assert links(sessions) == {"i1": ("r", "deployment_id")}
    assert summary.unattributed_incidents == 0
    assert summary.change_fail_rate.failed == 1  # d2, by the rollback only


@pytest.mark.parametrize("environment", ["staging", "Staging"])
def test_environment_filter_makes_it_the_production_set(
    sessions: sessionmaker[Session], environment: str
) -> None:
    world = History()
    three_releases(world)
    world.deploy("s1", 12, version="1", environment="staging")
    world.deploy("s2", 22, version="2", environment="staging")
    world.incident("i-staging", 23, 24, environment="staging")
    world.incident("i-unnamed", 23, 25, environment=None)
    world.incident("i-prod", 31, 32)
    world.write(sessions)

    staging = summarize(sessions, environment=environment)
    production = summarize(sessions)

    assert staging.deployment_frequency.deployments == 2
    # An unnamed environment is production, so under --environment staging it is left out.
    assert (staging.change_fail_rate.failed, staging.time_to_restore.samples) == (1, 1)
    assert production.deployment_frequency.deployments == 3
    assert production.time_to_restore.samples == 2
    assert summarize(sessions, environment="prod").time_to_restore.samples == 1
