"""What moved, in words: a changed metric is named with its driver; a steady one is not."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from metrics import DoraSummary, Window
from metrics.change_fail_rate import ChangeFailRate
from metrics.change_lead_time import ChangeLeadTime
from metrics.deployment_frequency import DeploymentFrequency
from metrics.deployment_rework_rate import DeploymentReworkRate
from metrics.failed_deployment_recovery_time import FailedDeploymentRecoveryTime
from metrics.time_to_restore import TimeToRestore
from ui.narrative import change, hours, metric_views, what_moved

WINDOW = Window(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 31, tzinfo=UTC))


def summary(
    deployments: int,
    lead_hours: float,
    failed: int,
    *,
    name: str | None = None,
    unattributed: int = 0,
    groups: tuple[DoraSummary, ...] | None = None,
) -> DoraSummary:
    return DoraSummary(
        window=WINDOW,
        deployment_frequency=DeploymentFrequency(
            deployments, deployments / 30, deployments / 30 * 7, "high"
        ),
        change_lead_time=ChangeLeadTime(40, lead_hours, lead_hours * 3, "high"),
        change_fail_rate=ChangeFailRate(deployments, failed, failed / deployments, "medium"),
        failed_deployment_recovery_time=FailedDeploymentRecoveryTime(failed, 2.0, 3.0, 0, "high"),
        deployment_rework_rate=DeploymentReworkRate(deployments, 1, 1 / deployments),
        time_to_restore=TimeToRestore(0, None, None),
        unattributed_incidents=unattributed,
        name=name,
        groups=groups,
    )


def test_a_rise_in_deployments_names_the_service_that_drove_it() -> None:
    before = summary(
        20, 30.0, 2, groups=(summary(10, 30.0, 1, name="api"), summary(10, 30.0, 1, name="web"))
    )
    now = summary(
        30, 30.0, 2, groups=(summary(20, 30.0, 1, name="api"), summary(10, 30.0, 1, name="web"))
    )

    lines = what_moved(now, before, 30)

    assert lines[0] == (
        "**Better:** Deployment frequency rose from 4.7/week to 1.00/day; most in api (10 → 20)."
    )


def test_a_longer_lead_time_is_bad_news_and_reads_in_hours() -> None:
    lines = what_moved(summary(20, 40.0, 2), summary(20, 20.0, 2), 30)

    assert lines[0] == "**Worse:** Change lead time rose from 20.0 h to 40.0 h."


def test_small_changes_are_steady_and_unattributed_incidents_are_mentioned() -> None:
    lines = what_moved(summary(20, 20.5, 2, unattributed=3), summary(20, 20.0, 2), 30)

    assert lines[0] == "Nothing moved by 10% or more against the previous 30 days."
    assert "3 production incidents are linked to no deployment" in lines[1]


def test_changes_are_percentage_points_for_rates_and_relative_otherwise() -> None:
    now, before = metric_views(summary(20, 30.0, 4)), metric_views(summary(20, 20.0, 2))

    assert change(now[1], before[1]) == "+50%"
    assert change(now[2], before[2]) == "+10.0 pp"
    assert change(now[2], replace(before[2], value=None)) is None


def test_durations_read_in_minutes_hours_or_days() -> None:
    assert [hours(0.5), hours(5), hours(72), hours(None)] == ["30 min", "5.0 h", "3.0 d", "-"]
