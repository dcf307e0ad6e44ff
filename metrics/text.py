"""A DORA summary as a readable terminal table (`python cli.py metrics` without `--json`).

Numbers are rounded here, for reading; the JSON output and the API keep them unrounded.
"""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from metrics.benchmarks import REWORK_RATE_2025_MEAN
from metrics.summary import DoraSummary


def _hours(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 24:.1f} d" if value >= 48 else f"{value:.1f} h"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _tier(value: str | None) -> str:
    return value or "-"


def summary_table(summary: DoraSummary, benchmark: int) -> Group:
    """Render the summary (and its groups, one row each) for a terminal."""
    window = summary.window
    title = (
        f"DORA metrics, {window.since:%Y-%m-%d %H:%M} to {window.until:%Y-%m-%d %H:%M} UTC "
        f"(tiers: {benchmark} report)"
    )
    table = Table(title=title, title_justify="left")
    for column in ("metric", "value", "n", "tier"):
        table.add_column(column)
    df, lt = summary.deployment_frequency, summary.change_lead_time
    cfr, fdrt = summary.change_fail_rate, summary.failed_deployment_recovery_time
    rework, ttr = summary.deployment_rework_rate, summary.time_to_restore
    table.add_row(
        "Deployment frequency",
        f"{df.per_day:.2f}/day ({df.per_week:.1f}/week)",
        f"{df.deployments} deployments",
        df.tier,
    )
    table.add_row(
        "Change lead time",
        f"median {_hours(lt.median_hours)}, p90 {_hours(lt.p90_hours)}",
        f"{lt.samples} commits",
        _tier(lt.tier),
    )
    table.add_row(
        "Change fail rate",
        _percent(cfr.rate),
        f"{cfr.failed} of {cfr.deployments} deployments",
        _tier(cfr.tier),
    )
    table.add_row(
        "Failed deployment recovery time",
        f"median {_hours(fdrt.median_hours)}, p90 {_hours(fdrt.p90_hours)}",
        f"{fdrt.samples} recovered, {fdrt.unrecovered} not yet",
        _tier(fdrt.tier),
    )
    table.add_row(
        "Deployment rework rate",
        _percent(rework.rate),
        f"{rework.rework} of {rework.deployments} deployments",
        f"2025 mean ~{REWORK_RATE_2025_MEAN:.0%}",
    )
    table.add_row(
        "Time to restore (pre-2023)",
        f"median {_hours(ttr.median_hours)}, p90 {_hours(ttr.p90_hours)}",
        f"{ttr.samples} incidents",
        "",
    )
    table.add_row("Unattributed incidents", str(summary.unattributed_incidents), "", "")
    parts: list[Table | Text] = [table]
    if summary.groups is not None:
        groups = Table(title="By group", title_justify="left")
        for column in ("name", "deploys/day", "lead time", "fail rate", "recovery", "rework"):
            groups.add_column(column)
        for group in summary.groups:
            groups.add_row(
                group.name or "(no team)",
                f"{group.deployment_frequency.per_day:.2f} ({group.deployment_frequency.tier})",
                f"{_hours(group.change_lead_time.median_hours)} "
                f"({_tier(group.change_lead_time.tier)})",
                f"{_percent(group.change_fail_rate.rate)} ({_tier(group.change_fail_rate.tier)})",
                f"{_hours(group.failed_deployment_recovery_time.median_hours)} "
                f"({_tier(group.failed_deployment_recovery_time.tier)})",
                _percent(group.deployment_rework_rate.rate),
            )
        parts.append(groups)
    return Group(*parts)
