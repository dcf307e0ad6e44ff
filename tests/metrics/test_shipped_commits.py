"""Shipped commits C(d) and change lead time, scenario by scenario (DESIGN §4)."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from metrics import EngineConfig, Filters
from metrics.drilldown import lead_time_samples
from tests.metrics.history import History, at, sha, summarize


def shipped(sessions: sessionmaker[Session]) -> dict[str, set[str]]:
    """Deployment external id -> names' shas of its lead-time samples."""
    with sessions.begin() as session:
        samples = lead_time_samples(
            session, Filters(since=at(0), until=at(24 * 30), config=EngineConfig())
        )
    found: dict[str, set[str]] = {}
    for sample in samples:
        found.setdefault(sample.deployment, set()).add(sample.sha)
    return found


def test_first_deployment_of_a_stream_gives_no_lead_time_samples(
    sessions: sessionmaker[Session],
) -> None:
    world = History()
    world.chain("c1", "c2")
    world.deploy("d1", 10, commit="c2", version="1")
    world.write(sessions)

    summary = summarize(sessions)

    assert summary.deployment_frequency.deployments == 1
    lead = summary.change_lead_time
    assert (lead.samples, lead.median_hours, lead.p90_hours, lead.tier) == (0, None, None, None)


def test_first_deployment_with_an_explicit_list_gives_one_sample_per_commit(
    sessions: sessionmaker[Session],
) -> None:
    world = History()
    world.commit("c1", authored=0)
    world.commit("c2", "c1", authored=2)
    world.deploy("d1", 10, commit="c2", version="1", commits=["c1", "c2"])
    world.write(sessions)

    lead = summarize(sessions).change_lead_time

    # samples 10 h and 8 h: median 9, p90 = 8 + 0.9 * (10 - 8)
    assert (lead.samples, lead.median_hours) == (2, 9.0)
    assert lead.p90_hours == pytest.approx(9.8)
    assert lead.tier == "elite"


def test_graph_derived_commits_are_those_between_consecutive_deployments(
    sessions: sessionmaker[Session],
) -> None:
    world = History()
    world.commit("c1", authored=0)
    world.commit("c2", "c1", authored=1)
    world.commit("c3", "c2", authored=2)
    world.commit("c4", "c3", authored=3)
    world.deploy("d1", 10, commit="c1", version="1")
    world.deploy("d2", 20, commit="c4", version="2")
    world.write(sessions)

    lead = summarize(sessions).change_lead_time

    assert shipped(sessions) == {"d2": {sha("c2"), sha("c3"), sha("c4")}}
    # samples 19, 18, 17 h: p90 = 18 + 0.8 * (19 - 18)
    assert (lead.samples, lead.median_hours) == (3, 18.0)
    assert lead.p90_hours == pytest.approx(18.8)


def test_explicit_list_wins_over_the_graph_and_counts_merges_and_unknown_shas(
    sessions: sessionmaker[Session],
) -> None:
    world = History()
    world.commit("c1", authored=0)
    world.commit("f1", "c1", authored=1)
    world.commit("m1", "c1", "f1", authored=2)
    world.deploy("d1", 10, commit="c1", version="1")
    # "ghost" has no commit record: shipped, but no lead-time sample.
    world.deploy("d2", 20, commit="m1", version="2", commits=["m1", "ghost"])
    world.write(sessions)

    lead = summarize(sessions).change_lead_time

    assert shipped(sessions) == {"d2": {sha("m1")}}
    assert (lead.samples, lead.median_hours) == (1, 18.0)


def test_an_empty_explicit_list_means_nothing_shipped(sessions: sessionmaker[Session]) -> None:
    world = History()
    world.chain("c1", "c2")
    world.deploy("d1", 10, commit="c1", version="1")
    world.deploy("d2", 20, commit="c2", version="2", commits=[])
    world.write(sessions)

    assert summarize(sessions).change_lead_time.samples == 0


def test_merge_commits_are_excluded_from_graph_derived_commits(
    sessions: sessionmaker[Session],
) -> None:
    world = History()
    world.commit("c1", authored=0)
    world.commit("f1", "c1", authored=1)
    world.commit("m1", "c1", "f1", authored=2)
    world.deploy("d1", 10, commit="c1", version="1")
    world.deploy("d2", 20, commit="m1", version="2")
    world.write(sessions)

    assert shipped(sessions) == {"d2": {sha("f1")}}
    assert summarize(sessions).change_lead_time.median_hours == 19.0


def test_a_parent_without_a_record_ends_the_walk(sessions: sessionmaker[Session]) -> None:
    world = History()
    world.commit("c1", authored=0)
    world.commit("c3", "c2-missing", authored=1)
    world.commit("c4", "c3", authored=2)
    world.deploy("d1", 10, commit="c1", version="1")
    world.deploy("d2", 20, commit="c4", version="2")
    world.write(sessions)

    assert shipped(sessions) == {"d2": {sha("c3"), sha("c4")}}


def test_a_base_sha_without_a_record_gives_no_graph_commits(
    sessions: sessionmaker[Session],
) -> None:
    world = History()
    world.chain("c1", "c2")
    world.deploy("d1", 10, commit="unknown", version="1")
    world.deploy("d2", 20, commit="c2", version="2")
    world.write(sessions)

    assert summarize(sessions).change_lead_time.samples == 0


def test_a_commit_shipped_twice_is_counted_for_its_first_deployment_only(
    sessions: sessionmaker[Session],
) -> None:
    world = History()
    world.chain("c1", "c2", "c3", authored=0)
    world.deploy("d1", 10, commit="c1", version="1")
    world.deploy("d2", 20, commit="c2", version="2")
    world.deploy("d3", 30, commit="c1", version="1")  # inferred rollback: ships nothing
    # The graph from the rollback (c1) to c3 holds c2 again, which d2 already shipped.
    world.deploy("d4", 40, commit="c3", version="3")
    world.deploy("d5", 50, commit="c3", version="4", commits=["c3"])
    world.write(sessions)

    assert shipped(sessions) == {"d2": {sha("c2")}, "d4": {sha("c3")}}
    lead = summarize(sessions).change_lead_time
    assert (lead.samples, lead.median_hours) == (2, 30.0)


def test_negative_and_zero_lead_times_are_dropped(sessions: sessionmaker[Session]) -> None:
    world = History()
    world.commit("early", authored=4)
    world.commit("same", authored=10)
    world.commit("late", authored=50)
    world.deploy("d1", 10, commit="late", version="1", commits=["early", "same", "late"])
    world.write(sessions)

    lead = summarize(sessions).change_lead_time

    assert (lead.samples, lead.median_hours) == (1, 6.0)


def test_rollbacks_and_redeploys_ship_nothing(sessions: sessionmaker[Session]) -> None:
    world = History()
    world.chain("c1", "c2", "c3")
    world.deploy("d1", 10, commit="c1", version="1")
    world.deploy("d2", 20, commit="c2", version="2")
    world.deploy("d3", 30, commit="c3", version="3", kind="redeploy", commits=["c3"])
    world.deploy("d4", 40, commit="c1", version="1", commits=["c1"])
    world.write(sessions)

    assert shipped(sessions) == {"d2": {sha("c2")}}


def test_non_production_and_unsuccessful_deployments_are_invisible(
    sessions: sessionmaker[Session],
) -> None:
    world = History()
    world.chain("c1", "c2", "c3", authored=0)
    world.deploy("s1", 5, commit="c3", version="3", environment="staging")
    world.deploy("d1", 10, commit="c1", version="1")
    world.deploy("bad", 15, commit="c2", version="2", status="failure")
    world.deploy("gone", 16, commit="c2", version="2", status="cancelled")
    world.deploy("d2", 20, commit="c3", version="3")
    world.write(sessions)

    summary = summarize(sessions)

    # The failed rollout is never the graph base: d2 ships c2 and c3.
    assert shipped(sessions) == {"d2": {sha("c2"), sha("c3")}}
    assert summary.deployment_frequency.deployments == 2
    assert summary.change_lead_time.samples == 2


def test_streams_are_per_environment_and_environment_names_ignore_case(
    sessions: sessionmaker[Session],
) -> None:
    world = History()
    world.chain("c1", "c2", authored=0)
    world.deploy("s1", 5, commit="c1", version="1", environment="staging")
    world.deploy("s2", 6, commit="c2", version="2", environment="staging")
    world.deploy("d1", 10, commit="c1", version="1", environment="Production")
    world.deploy("d2", 20, commit="c2", version="2", environment="production")
    world.write(sessions)

    summary = summarize(sessions)

    # c2 was shipped to staging by s2 and, separately, to production by d2.
    assert shipped(sessions) == {"d2": {sha("c2")}}
    assert summary.deployment_frequency.deployments == 2
    assert summary.change_lead_time.median_hours == 20.0
