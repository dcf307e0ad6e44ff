"""The summary as a whole: windows, empty sets, tiers, pooling, breakdowns and trends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from errors import InputError
from ingest.demo import Scale, write_demo
from metrics import (
    EngineConfig,
    Filters,
    GroupBy,
    Period,
    breakdown,
    dora_summary,
    summary_and_trend,
    trend,
)
from metrics.summary import bucket_boundaries
from tests.metrics.history import History, at, summarize


def test_window_includes_since_and_excludes_until(sessions: sessionmaker[Session]) -> None:
    world = History()
    world.deploy("before", 9.5, version="0")
    world.deploy("at-since", 10, version="1")
    world.deploy("inside", 15, version="2")
    world.deploy("at-until", 20, version="3")
    world.incident("i-since", 10, 11)
    world.incident("i-until", 20, 21)
    world.write(sessions)

    summary = summarize(sessions, since=10, until=20)

    assert summary.deployment_frequency.deployments == 2
    assert summary.time_to_restore.samples == 1
    assert (summary.window.since, summary.window.until) == (at(10), at(20))


def test_empty_sets_give_zero_counts_and_null_medians_rates_and_tiers(
    sessions: sessionmaker[Session],
) -> None:
    summary = summarize(sessions)

    assert summary.to_json() == {
        "window": {"since": "2026-03-02T00:00:00Z", "until": "2026-04-01T00:00:00Z"},
        "deployment_frequency": {"deployments": 0, "per_day": 0.0, "per_week": 0.0, "tier": "low"},
        "change_lead_time": {"samples": 0, "median_hours": None, "p90_hours": None, "tier": None},
        "change_fail_rate": {"deployments": 0, "failed": 0, "rate": None, "tier": None},
        "failed_deployment_recovery_time": {
            "samples": 0,
            "median_hours": None,
            "p90_hours": None,
            "unrecovered": 0,
            "tier": None,
        },
        "deployment_rework_rate": {"deployments": 0, "rework": 0, "rate": None},
        "time_to_restore": {"samples": 0, "median_hours": None, "p90_hours": None},
        "unattributed_incidents": 0,
    }


@pytest.mark.parametrize(
    ("deployments", "tier"),
    [(7, "elite"), (6, "high"), (1, "high"), (0, "low")],
)
def test_deployment_frequency_tiers_compare_exactly(
    sessions: sessionmaker[Session], deployments: int, tier: str
) -> None:
    world = History()
    for index in range(deployments):
        world.deploy(f"d{index}", 24 * index + 1, version=str(index))
    world.write(sessions)

    frequency = summarize(sessions, since=0, until=24 * 7).deployment_frequency

    assert (frequency.deployments, frequency.tier) == (deployments, tier)
    assert frequency.per_day == deployments / 7
    assert frequency.per_week == deployments / 7 * 7


def test_a_monthly_deployment_is_medium_and_less_is_low(sessions: sessionmaker[Session]) -> None:
    world = History()
    world.deploy("d1", 1, version="1")
    world.write(sessions)

    assert summarize(sessions, until=24 * 30).deployment_frequency.tier == "medium"
    assert summarize(sessions, until=24 * 30 + 1).deployment_frequency.tier == "low"


def test_change_fail_rate_tier_boundaries_are_inclusive(sessions: sessionmaker[Session]) -> None:
    world = History()
    for index in range(20):
        world.deploy(f"d{index}", index + 1, version=str(index))
    world.incident("i1", 5.5, 6, deployment="d4")
    world.write(sessions)

    cfr = summarize(sessions).change_fail_rate

    assert (cfr.deployments, cfr.failed, cfr.rate, cfr.tier) == (20, 1, 0.05, "elite")


@pytest.mark.parametrize(("year", "lead_tier"), [(2021, "high"), (2023, "elite"), (2024, "elite")])
def test_benchmark_year_selects_the_tier_table(
    sessions: sessionmaker[Session], year: int, lead_tier: str
) -> None:
    world = History()
    world.commit("c1", authored=0)
    world.deploy("d1", 10, commit="c1", version="1", commits=["c1"])
    world.deploy("d2", 20, version="2")
    world.deploy("r", 20.5, version="1")
    world.write(sessions)

    summary = summarize(sessions, benchmark=year)

    # Lead time 10 h: under a day (elite since 2023), over an hour (high in 2021).
    assert summary.change_lead_time.tier == lead_tier
    # Fail rate 1/2 is low in every table; recovery 0.5 h is elite in every table.
    assert summary.change_fail_rate.tier == "low"
    assert summary.failed_deployment_recovery_time.tier == "elite"


def test_several_services_and_teams_are_pooled_never_averaged(
    sessions: sessionmaker[Session],
) -> None:
    world = History()
    world.service("api", team="payments")
    world.service("web", team="payments")
    world.service("ops", team=None)
    world.commit("a1", authored=0, repo="acme/api")
    world.commit("a2", authored=0, repo="acme/api")
    world.commit("a3", authored=0, repo="acme/api")
    world.commit("w1", authored=0, repo="acme/web")
    world.deploy("api-1", 10, version="1", commits=["a1", "a2", "a3"], repo="acme/api")
    world.deploy("web-1", 40, version="1", commits=["w1"], service="web", repo="acme/web")
    world.deploy("ops-1", 5, version="1", service="ops", repo="acme/ops")
    world.write(sessions)

    summary = summarize(sessions, by=GroupBy.team)

    # Pooled samples 10, 10, 10, 40: median 10 (an average of medians would give 25).
    assert summary.change_lead_time.median_hours == 10.0
    assert [group.name for group in summary.groups or ()] == ["payments", None]
    payments, no_team = summary.groups or ()
    assert payments.change_lead_time.samples == 4
    assert payments.change_lead_time.median_hours == 10.0
    assert payments.deployment_frequency.deployments == 2
    assert no_team.deployment_frequency.deployments == 1
    assert summarize(sessions, team="payments").deployment_frequency.deployments == 2
    web = summarize(sessions, services=("web", "ops"))
    assert web.deployment_frequency.deployments == 2


def test_breakdown_by_service_lists_every_service_in_scope_sorted(
    sessions: sessionmaker[Session],
) -> None:
    world = History()
    world.service("zeta", team="t")
    world.deploy("a", 10, version="1", service="alpha")
    world.write(sessions)

    with sessions.begin() as session:
        groups = breakdown(
            session,
            Filters(since=at(0), until=at(100), config=EngineConfig()),
            GroupBy.service,
        )

    assert [(g.name, g.deployment_frequency.deployments) for g in groups] == [
        ("alpha", 1),
        ("zeta", 0),
    ]


def test_weekly_trend_has_a_zero_filled_bucket_for_every_week(
    sessions: sessionmaker[Session],
) -> None:
    world = History()
    world.deploy("d1", 10, version="1")  # week 1 (T0 is a Monday)
    world.deploy("d2", 24 * 14 + 5, version="2")  # week 3
    world.deploy("r", 24 * 14 + 6, version="1")
    world.write(sessions)

    with sessions.begin() as session:
        points = trend(
            session, Filters(since=at(0), until=at(24 * 21), config=EngineConfig()), Period.week
        )

    assert [p.start for p in points] == [at(0), at(24 * 7), at(24 * 14)]
    counts = [p.summary.deployment_frequency.deployments for p in points]
    assert counts == [1, 0, 2]
    assert [p.summary.change_fail_rate.rate for p in points] == [0.0, None, 1.0]
    assert points[1].summary.deployment_frequency.per_day == 0.0
    assert points[2].summary.deployment_frequency.per_day == 2 / 7


def test_summary_read_with_its_trend_equals_the_summary_read_alone(
    sessions: sessionmaker[Session],
) -> None:
    end = datetime(2026, 3, 4, 15, tzinfo=UTC)  # a Wednesday: partial first and last weeks
    write_demo(sessions, Scale(services=7, days=60, tests_per_build=8), seed=5, end=end)
    filters = Filters(since=end - timedelta(days=45), until=end, config=EngineConfig())

    for by in (None, GroupBy.service, GroupBy.team):
        with sessions.begin() as session:
            summary, points = summary_and_trend(session, filters, Period.week, by=by, now=end)
            alone = dora_summary(session, filters, by=by, now=end)

        assert summary == alone
        assert len(points) == 8
        assert sum(p.summary.deployment_frequency.deployments for p in points) == (
            alone.deployment_frequency.deployments
        )
        assert sum(p.summary.change_lead_time.samples for p in points) == (
            alone.change_lead_time.samples
        )
    assert alone.change_lead_time.samples > 100
    assert alone.change_fail_rate.failed > 0
    assert len(alone.groups or ()) >= 2


def test_trend_buckets_are_calendar_weeks_and_months_clipped_to_the_window() -> None:
    since = datetime(2026, 1, 28, 12, tzinfo=UTC)  # a Wednesday
    until = datetime(2026, 3, 3, tzinfo=UTC)

    weeks = bucket_boundaries(since, until, Period.week)
    months = bucket_boundaries(since, until, Period.month)

    assert weeks[:3] == [since, datetime(2026, 2, 2, tzinfo=UTC), datetime(2026, 2, 9, tzinfo=UTC)]
    assert weeks[-2:] == [datetime(2026, 3, 2, tzinfo=UTC), until]
    assert months == [
        since,
        datetime(2026, 2, 1, tzinfo=UTC),
        datetime(2026, 3, 1, tzinfo=UTC),
        until,
    ]


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"services": ("nope",)}, "unknown service 'nope'"),
        ({"team": "nobody"}, "no service belongs to team 'nobody'"),
        ({"benchmark": 2019}, "unknown report year 2019"),
    ],
)
def test_bad_filters_are_input_errors(
    sessions: sessionmaker[Session], filters: dict[str, Any], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        summarize(sessions, **filters)


def test_until_before_since_is_an_input_error(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(InputError, match="must be after --since"):
        summarize(sessions, since=10, until=5)
