"""Labels (redeploy, rollback, hotfix), failed deployments and their recovery (DESIGN §4)."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from metrics import EngineConfig, Filters
from metrics.drilldown import deployments, failed_deployments
from tests.metrics.history import History, at, summarize


def window() -> Filters:
    return Filters(since=at(0), until=at(24 * 30), config=EngineConfig())


def labels(sessions: sessionmaker[Session]) -> dict[str, str]:
    with sessions.begin() as session:
        return {row.external_id: row.label for row in deployments(session, window())}


def failures(
    sessions: sessionmaker[Session],
) -> dict[str, tuple[list[tuple[str, str]], float | None]]:
    """Failed deployment id -> ([(rule, cause id)], recovery hours)."""
    with sessions.begin() as session:
        return {
            failed.deployment.external_id: (
                [(reason.rule, reason.external_id) for reason in failed.reasons],
                failed.recovery_hours,
            )
            for failed in failed_deployments(session, window())
        }


def releases(world: History, *versions: str, every: float = 10) -> None:
    """Production deployments d1, d2... of the given versions, `every` hours apart."""
    for index, version in enumerate(versions, start=1):
        world.deploy(f"d{index}", every * index, version=version)


def test_redeploy_of_the_same_version_is_labelled_and_counted_but_fails_nothing(
    sessions: sessionmaker[Session],
) -> None:
    world = History()
    releases(world, "1", "2", "2")
    world.deploy("d4", 40, version="2", kind="redeploy")
    world.write(sessions)

    summary = summarize(sessions)

    assert labels(sessions) == {"d1": "normal", "d2": "normal", "d3": "redeploy", "d4": "redeploy"}
    assert summary.deployment_frequency.deployments == 4
    assert summary.change_fail_rate.failed == 0
    assert summary.deployment_rework_rate.rework == 0


def test_a_deployment_key_is_its_sha_when_it_has_no_version(
    sessions: sessionmaker[Session],
) -> None:
    world = History()
    world.deploy("d1", 10, commit="c1")
    world.deploy("d2", 20, commit="c2")
    world.deploy("d3", 30, commit="c2")
    world.deploy("d4", 40, commit="c1")
    world.write(sessions)

    assert labels(sessions) == {"d1": "normal", "d2": "normal", "d3": "redeploy", "d4": "rollback"}


@pytest.mark.parametrize("kind", ["rollback", None])
def test_rollback_fails_the_deployment_right_after_its_target(
    sessions: sessionmaker[Session], kind: str | None
) -> None:
    world = History()
    releases(world, "1", "2")
    world.deploy("r", 25, version="1", kind=kind)
    world.write(sessions)

    summary = summarize(sessions)

    assert labels(sessions)["r"] == "rollback"
    assert failures(sessions) == {"d2": ([("rollback", "r")], 5.0)}
    cfr = summary.change_fail_rate
    assert (cfr.deployments, cfr.failed, cfr.rate, cfr.tier) == (2, 1, 0.5, "low")
    rework = summary.deployment_rework_rate
    assert (rework.deployments, rework.rework) == (3, 1)
    assert rework.rate == pytest.approx(1 / 3)
    recovery = summary.failed_deployment_recovery_time
    assert (recovery.samples, recovery.median_hours, recovery.unrecovered) == (1, 5.0, 0)
    assert recovery.tier == "high"


def test_rollback_of_several_versions_at_once_fails_the_first_after_the_target(
    sessions: sessionmaker[Session],
) -> None:
    world = History()
    releases(world, "1", "2", "3")
    world.deploy("r", 35, version="1")
    world.write(sessions)

    assert failures(sessions) == {"d2": ([("rollback", "r")], 15.0)}
    assert summarize(sessions).change_fail_rate.failed == 1


def test_a_later_second_rollback_targets_the_latest_deployment_of_its_version(
    sessions: sessionmaker[Session],
) -> None:
    world = History()
    releases(world, "1", "2")
    world.deploy("r1", 25, version="1")
    world.deploy("d3", 30, version="3")
    world.deploy("r2", 35, version="1")
    world.write(sessions)

    assert failures(sessions) == {
        "d2": ([("rollback", "r1")], 5.0),
        "d3": ([("rollback", "r2")], 5.0),
    }
    cfr = summarize(sessions).change_fail_rate
    assert (cfr.deployments, cfr.failed) == (3, 2)


def test_a_rollback_whose_target_is_followed_by_a_rollback_fails_nothing(
    sessions: sessionmaker[Session],
) -> None:
    world = History()
    releases(world, "1", "2")
    world.deploy("r1", 25, version="1")
    world.deploy("r2", 30, version="2")  # back to 2: right after 2's deployment came r1
    world.write(sessions)

    assert labels(sessions)["r2"] == "rollback"
    assert failures(sessions) == {"d2": ([("rollback", "r1")], 5.0)}


def test_an_explicit_rollback_with_no_earlier_version_fails_nothing(
    sessions: sessionmaker[Session],
) -> None:
    world = History()
    releases(world, "1", "2")
    world.deploy("r", 25, version="0.9", kind="rollback")
    world.write(sessions)

    summary = summarize(sessions)

    assert failures(sessions) == {}
    assert summary.deployment_rework_rate.rework == 1


def test_hotfix_with_fixes_fails_the_named_deployment(sessions: sessionmaker[Session]) -> None:
    world = History()
    releases(world, "1", "2", "3")
    world.deploy("h", 40, version="3.1", kind="hotfix", fixes="d2")
    world.write(sessions)

    assert failures(sessions) == {"d2": ([("hotfix", "h")], 20.0)}


def test_hotfix_without_fixes_fails_the_latest_non_remediation_deployment(
    sessions: sessionmaker[Session],
) -> None:
    world = History()
    releases(world, "1", "2")
    world.deploy("h", 25, version="2.0.1-HOTFIX")  # inferred from the pattern, any case
    world.write(sessions)

    summary = summarize(sessions)

    assert labels(sessions)["h"] == "hotfix"
    assert failures(sessions) == {"d2": ([("hotfix", "h")], 5.0)}
    assert summary.deployment_rework_rate.rework == 1


def test_hotfix_inferred_from_the_ref(sessions: sessionmaker[Session]) -> None:
    world = History()
    releases(world, "1")
    world.deploy("h", 25, version="1.1", ref="hotfix/login")
    world.write(sessions)

    assert labels(sessions)["h"] == "hotfix"


def test_hotfix_without_fixes_may_fail_a_redeploy(sessions: sessionmaker[Session]) -> None:
    world = History()
    releases(world, "1", "2", "2")
    world.deploy("h", 35, version="2.1", kind="hotfix")
    world.write(sessions)

    assert failures(sessions) == {"d3": ([("hotfix", "h")], 5.0)}


def test_two_hotfixes_for_one_failure_count_it_once_and_the_first_restores_it(
    sessions: sessionmaker[Session],
) -> None:
    world = History()
    releases(world, "1", "2")
    world.deploy("h1", 25, version="2.1-hotfix")
    world.deploy("h2", 30, version="2.2-hotfix", fixes="d2")
    world.write(sessions)

    summary = summarize(sessions)

    assert failures(sessions) == {"d2": ([("hotfix", "h1"), ("hotfix", "h2")], 5.0)}
    cfr = summary.change_fail_rate
    assert (cfr.deployments, cfr.failed, cfr.rate) == (4, 1, 0.25)
    assert summary.deployment_rework_rate.rework == 2


def test_fixes_naming_no_earlier_deployment_of_the_stream_is_ignored(
    sessions: sessionmaker[Session],
) -> None:
    world = History()
    releases(world, "1", "2")
    world.deploy("s1", 5, version="1", environment="staging")
    world.deploy("h1", 25, version="2.1", kind="hotfix", fixes="nope")
    world.deploy("h2", 30, version="2.2", kind="hotfix", fixes="s1")  # another stream
    world.deploy("h3", 35, version="2.3", kind="hotfix", fixes="d9")  # a later one
    world.deploy("d9", 40, version="3")
    world.write(sessions)

    assert failures(sessions) == {}


def test_fixes_on_a_deployment_that_is_not_a_hotfix_is_ignored(
    sessions: sessionmaker[Session],
) -> None:
    world = History()
    releases(world, "1", "2")
    world.deploy("d3", 30, version="3", fixes="d2")
    world.write(sessions)

    assert failures(sessions) == {}


def test_failure_and_restoration_after_until_still_count(sessions: sessionmaker[Session]) -> None:
    world = History()
    releases(world, "1", "2")
    world.deploy("r", 100, version="1")
    world.write(sessions)

    summary = summarize(sessions, until=50)

    assert summary.change_fail_rate.failed == 1
    assert summary.deployment_frequency.deployments == 2
    assert summary.failed_deployment_recovery_time.median_hours == 80.0


def test_non_production_and_failed_deployments_take_no_part_in_the_rules(
    sessions: sessionmaker[Session],
) -> None:
    world = History()
    releases(world, "1", "2")
    world.deploy("bad", 22, version="1", status="failure")
    world.deploy("s", 23, version="1", environment="staging")
    world.deploy("d3", 30, version="3")
    world.write(sessions)

    summary = summarize(sessions)

    assert labels(sessions) == {"d1": "normal", "d2": "normal", "d3": "normal"}
    assert summary.change_fail_rate.failed == 0


def test_incidents_restore_a_failure_when_all_are_resolved(sessions: sessionmaker[Session]) -> None:
    world = History()
    releases(world, "1", "2", "3")
    world.incident("i1", 11, 14, deployment="d1")
    world.incident("i2", 12, 16, deployment="d1")
    world.incident("i3", 21, 23, deployment="d2")
    world.incident("i4", 22, None, deployment="d2")  # still open
    world.incident("i5", 31, None, deployment="d3")
    world.deploy("r", 40, version="2")  # rolls back d3
    world.write(sessions)

    summary = summarize(sessions)

    assert failures(sessions) == {
        "d1": ([("incident", "i1"), ("incident", "i2")], 6.0),
        "d2": ([("incident", "i3"), ("incident", "i4")], None),
        "d3": ([("incident", "i5"), ("rollback", "r")], 10.0),
    }
    recovery = summary.failed_deployment_recovery_time
    assert (recovery.samples, recovery.unrecovered) == (2, 1)
    assert recovery.median_hours == 8.0
    assert recovery.p90_hours == pytest.approx(9.6)
    cfr = summary.change_fail_rate
    assert (cfr.deployments, cfr.failed, cfr.rate) == (3, 3, 1.0)


def test_the_rework_rows_are_the_rollbacks_and_hotfixes_newest_first(
    sessions: sessionmaker[Session],
) -> None:
    world = History()
    releases(world, "1", "2", "3", "3")
    world.deploy("r", 45, version="2")
    world.deploy("h", 50, version="2.1", kind="hotfix")
    world.deploy("d6", 60, version="4")
    world.write(sessions)

    with sessions.begin() as session:
        rework = deployments(session, window(), rework=True)
        newest = deployments(session, window(), limit=2)

    assert [(row.external_id, row.label) for row in rework] == [
        ("h", "hotfix"),
        ("r", "rollback"),
    ]
    assert [row.external_id for row in newest] == ["d6", "h"]
    summary = summarize(sessions)
    assert summary.deployment_rework_rate.rework == len(rework)
