"""Derived tables: refreshed incrementally as data arrives, and rebuilt by `recompute`."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from metrics import EngineConfig, recompute, refresh
from models import DeploymentAttribution, DeploymentCommit
from tests.metrics.history import History, summarize


def test_refresh_recomputes_only_the_services_whose_data_changed(
    sessions: sessionmaker[Session],
) -> None:
    world = History()
    world.chain("c1", "c2")
    world.deploy("d1", 10, commit="c1", version="1")
    world.deploy("w1", 10, version="1", service="web")
    world.write(sessions)
    config = EngineConfig()
    with sessions.begin() as session:
        assert refresh(session, config).services == 2
        assert refresh(session, config).services == 0

    world.deploy("d2", 20, commit="c2", version="2")
    world.write(sessions)
    with sessions.begin() as session:
        assert refresh(session, config).services == 1

    assert summarize(sessions).change_lead_time.samples == 1


def test_a_late_deployment_in_the_middle_of_a_stream_relabels_what_follows(
    sessions: sessionmaker[Session],
) -> None:
    world = History()
    world.deploy("d1", 10, version="1")
    world.deploy("d3", 30, version="1")  # a redeploy of 1, for now
    world.write(sessions)
    assert summarize(sessions).change_fail_rate.failed == 0

    world.deploy("d2", 20, version="2")  # arrives late: d3 is now a rollback failing d2
    world.write(sessions)

    summary = summarize(sessions)
    assert (summary.change_fail_rate.failed, summary.deployment_rework_rate.rework) == (1, 1)


def test_a_running_deployment_that_finishes_is_picked_up(sessions: sessionmaker[Session]) -> None:
    world = History()
    world.deploy("d1", 10, version="1")
    world.write(sessions)
    assert summarize(sessions).deployment_frequency.deployments == 1

    world.deploy("d1", 10, version="1", status="failure")
    world.write(sessions)

    assert summarize(sessions).deployment_frequency.deployments == 0


def test_commits_arriving_after_their_deployment_give_lead_times(
    sessions: sessionmaker[Session],
) -> None:
    world = History()
    world.deploy("d1", 10, commit="c1", version="1")
    world.deploy("d2", 20, commit="c2", version="2")
    world.write(sessions)
    assert summarize(sessions).change_lead_time.samples == 0

    world.chain("c1", "c2")
    world.write(sessions)

    assert summarize(sessions).change_lead_time.samples == 1


def test_recompute_rebuilds_the_same_rows_as_incremental_refreshes(
    sessions: sessionmaker[Session],
) -> None:
    world = History()
    world.chain("c1", "c2", "c3")
    world.deploy("d1", 10, commit="c1", version="1")
    world.deploy("d2", 20, commit="c2", version="2")
    world.write(sessions)
    summarize(sessions)
    world.deploy("d3", 30, commit="c3", version="3")
    world.incident("i1", 31, 33)
    world.write(sessions)
    incremental = summarize(sessions)

    with sessions.begin() as session:
        assert recompute(session, EngineConfig()).services == 1
        commits = session.scalar(select(func.count()).select_from(DeploymentCommit))
        outcomes = session.scalar(select(func.count()).select_from(DeploymentAttribution))

    assert (commits, outcomes) == (2, 3)
    assert summarize(sessions) == incremental


def test_each_configuration_keeps_its_own_derived_rows(sessions: sessionmaker[Session]) -> None:
    world = History()
    world.deploy("d1", 10, version="1")
    world.deploy("s1", 10, version="1", environment="staging")
    world.deploy("s2", 12, version="1.1-hotfix", environment="staging")
    world.write(sessions)

    assert summarize(sessions, environment="staging").deployment_rework_rate.rework == 1
    assert summarize(sessions).deployment_rework_rate.rework == 0
    assert summarize(sessions, environment="staging").change_fail_rate.failed == 1
