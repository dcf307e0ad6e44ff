"""The five DORA metrics together: the summary, its breakdowns and its trend series.

Every function refreshes the derived tables first (`metrics.derived.refresh`, a no-op
when nothing changed) inside the caller's transaction, then runs one grouped query per
metric and pools the per-(bucket, service) parts into the groups asked for: the whole
scope, each service, each team, or each week or month. Pooling sums counts and
concatenates samples, so a team's median is the median of all its samples.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from itertools import pairwise
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from metrics import (
    change_fail_rate,
    change_lead_time,
    deployment_frequency,
    deployment_rework_rate,
    failed_deployment_recovery_time,
    time_to_restore,
    unattributed_incidents,
)
from metrics.change_fail_rate import ChangeFailRate
from metrics.change_lead_time import ChangeLeadTime
from metrics.deployment_frequency import DeploymentFrequency
from metrics.deployment_rework_rate import DeploymentReworkRate
from metrics.derived import prepare
from metrics.failed_deployment_recovery_time import FailedDeploymentRecoveryTime, Recoveries
from metrics.scope import Filters, Key, Scope
from metrics.time_to_restore import TimeToRestore

T = TypeVar("T")
G = TypeVar("G", bound=Hashable)


class GroupBy(StrEnum):
    """How a summary is broken down."""

    service = "service"
    team = "team"


class Period(StrEnum):
    """Trend bucket length: calendar weeks (from Monday, UTC) or calendar months."""

    week = "week"
    month = "month"


@dataclass(frozen=True)
class Window:
    """The half-open window `[since, until)` a summary covers."""

    since: datetime
    until: datetime


@dataclass(frozen=True)
class DoraSummary:
    """The DORA metrics of one scope (DESIGN §4's JSON shape, as a value).

    Attributes:
        window: The window covered.
        name: The group's name (service or team) in a breakdown; None otherwise.
        groups: With a breakdown, one summary per group, sorted by name (None last).
    """

    window: Window
    deployment_frequency: DeploymentFrequency
    change_lead_time: ChangeLeadTime
    change_fail_rate: ChangeFailRate
    failed_deployment_recovery_time: FailedDeploymentRecoveryTime
    deployment_rework_rate: DeploymentReworkRate
    time_to_restore: TimeToRestore
    unattributed_incidents: int
    name: str | None = None
    groups: tuple[DoraSummary, ...] | None = field(default=None)

    def to_json(self) -> dict[str, Any]:
        """The summary in DESIGN §4's JSON shape (times as ISO 8601 UTC with `Z`)."""
        shape: dict[str, Any] = {
            "window": {"since": _iso(self.window.since), "until": _iso(self.window.until)}
        }
        for name in (
            "deployment_frequency",
            "change_lead_time",
            "change_fail_rate",
            "failed_deployment_recovery_time",
            "deployment_rework_rate",
            "time_to_restore",
        ):
            shape[name] = asdict(getattr(self, name))
        shape["unattributed_incidents"] = self.unattributed_incidents
        if self.groups is not None:
            shape["groups"] = [{"name": g.name, **g.to_json()} for g in self.groups]
        return shape


@dataclass(frozen=True)
class TrendPoint:
    """One bucket of a trend: its own window and the metrics over it."""

    start: datetime
    end: datetime
    summary: DoraSummary


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def dora_summary(
    session: Session,
    filters: Filters,
    *,
    by: GroupBy | None = None,
    now: datetime | None = None,
) -> DoraSummary:
    """The DORA metrics for `filters`, optionally with a breakdown by service or team.

    Args:
        session: An open session; derived tables are refreshed in its transaction, so
            open it with `sessions.begin()` to keep the refresh.
        filters: Window, services, team, environment, benchmark year and engine settings.
        by: Add `groups`, one summary per service or team.
        now: The current time, for the default window (default: the clock).

    Raises:
        InputError: A filter names an unknown service, team or year, or the window is empty.
    """
    scope = prepare(session, filters, now=now, catalog=by is not None)
    parts = _load(session, scope)
    overall = _summaries(scope, parts, lambda _key: None, {None: (scope.since, scope.until)})
    total = overall[None]
    if by is None:
        return total
    groups = _breakdown(scope, parts, by)
    return DoraSummary(**{**_fields(total), "groups": tuple(groups)})


def breakdown(
    session: Session, filters: Filters, by: GroupBy, *, now: datetime | None = None
) -> list[DoraSummary]:
    """One summary per service or team in scope, sorted by name (a null team last)."""
    scope = prepare(session, filters, now=now, catalog=True)
    return _breakdown(scope, _load(session, scope), by)


def _breakdown(scope: Scope, parts: _Parts, by: GroupBy) -> list[DoraSummary]:
    """Group already loaded parts by service or team (every service in scope appears)."""
    services = scope.services if scope.services is not None else tuple(scope.teams)
    if by is GroupBy.service:
        names: set[str | None] = set(services)

        def group_of(key: Key) -> str | None:
            return key[1]
    else:
        names = {scope.teams.get(service) for service in services}

        def group_of(key: Key) -> str | None:
            return scope.teams.get(key[1])

    windows = dict.fromkeys(names, (scope.since, scope.until))
    found = _summaries(scope, parts, group_of, windows)
    ordered = sorted(names, key=lambda name: (name is None, name or ""))
    return [DoraSummary(**{**_fields(found[name]), "name": name}) for name in ordered]


def trend(
    session: Session,
    filters: Filters,
    period: Period = Period.week,
    *,
    now: datetime | None = None,
) -> list[TrendPoint]:
    """The metrics per calendar week or month of the window, every bucket present.

    Buckets are clipped to the window, so the first and last may be partial; a bucket
    with no data has zero counts and null medians and rates (frequency 0.0).
    """
    return summary_and_trend(session, filters, period, now=now)[1]


def summary_and_trend(
    session: Session,
    filters: Filters,
    period: Period = Period.week,
    *,
    by: GroupBy | None = None,
    now: datetime | None = None,
) -> tuple[DoraSummary, list[TrendPoint]]:
    """`dora_summary(session, filters, by=by)` and `trend(session, filters, period)` together.

    The data is read once, grouped by trend bucket (and service): the summary pools every
    bucket, the trend each one. A page that shows both pays for one read instead of two.
    """
    scope = prepare(session, filters, now=now, catalog=by is not None)
    boundaries = bucket_boundaries(scope.since, scope.until, period)
    scope = replace(scope, buckets=tuple(boundaries))
    parts = _load(session, scope)
    total = _summaries(scope, parts, lambda _key: None, {None: (scope.since, scope.until)})[None]
    if by is not None:
        total = DoraSummary(**{**_fields(total), "groups": tuple(_breakdown(scope, parts, by))})
    windows: dict[int | None, tuple[datetime, datetime]] = {
        index: (start, end) for index, (start, end) in enumerate(pairwise(boundaries))
    }
    found = _summaries(scope, parts, lambda key: key[0], windows)
    return total, [TrendPoint(start, end, found[index]) for index, (start, end) in windows.items()]


def bucket_boundaries(since: datetime, until: datetime, period: Period) -> list[datetime]:
    """Calendar week (Monday 00:00 UTC) or month starts inside the window, plus its ends."""
    start = since.astimezone(UTC)
    midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
    if period is Period.week:
        edge = midnight - timedelta(days=midnight.weekday())

        def step(moment: datetime) -> datetime:
            return moment + timedelta(days=7)
    else:
        edge = midnight.replace(day=1)

        def step(moment: datetime) -> datetime:
            year, month = divmod(moment.month, 12)
            return moment.replace(year=moment.year + year, month=month + 1)

    boundaries = [start]
    edge = step(edge)
    while edge < until:
        boundaries.append(edge)
        edge = step(edge)
    boundaries.append(until)
    return boundaries


@dataclass
class _Parts:
    """What the loaders returned, per (bucket, service)."""

    deployments: Mapping[Key, int]
    lead_times: Mapping[Key, list[int]]
    fail_rate: Mapping[Key, change_fail_rate.Tally]
    recoveries: Mapping[Key, Recoveries]
    rework: Mapping[Key, deployment_rework_rate.Tally]
    restores: Mapping[Key, list[int]]
    unattributed: Mapping[Key, int]


def _load(session: Session, scope: Scope) -> _Parts:
    return _Parts(
        deployment_frequency.load(session, scope),
        change_lead_time.load(session, scope),
        change_fail_rate.load(session, scope),
        failed_deployment_recovery_time.load(session, scope),
        deployment_rework_rate.load(session, scope),
        time_to_restore.load(session, scope),
        unattributed_incidents.load(session, scope),
    )


def _pool(
    parts: Mapping[Key, T],
    group_of: Callable[[Key], G],
    combine: Callable[[Iterable[T]], T],
) -> dict[G, T]:
    grouped: dict[G, list[T]] = defaultdict(list)
    for key, value in parts.items():
        grouped[group_of(key)].append(value)
    return {group: combine(values) for group, values in grouped.items()}


def _concat(lists: Iterable[list[int]]) -> list[int]:
    return [sample for samples in lists for sample in samples]


def _merge_recoveries(values: Iterable[Recoveries]) -> Recoveries:
    merged = Recoveries()
    for value in values:
        merged.samples_us.extend(value.samples_us)
        merged.unrecovered += value.unrecovered
    return merged


def _summaries(
    scope: Scope,
    parts: _Parts,
    group_of: Callable[[Key], G],
    windows: Mapping[G, tuple[datetime, datetime]],
) -> dict[G, DoraSummary]:
    """Pool the parts by group and compute each group's summary."""
    deployments = _pool(parts.deployments, group_of, sum)
    leads = _pool(parts.lead_times, group_of, _concat)
    fails = _pool(parts.fail_rate, group_of, lambda v: sum(v, change_fail_rate.Tally()))
    recoveries = _pool(parts.recoveries, group_of, _merge_recoveries)
    rework = _pool(parts.rework, group_of, lambda v: sum(v, deployment_rework_rate.Tally()))
    restores = _pool(parts.restores, group_of, _concat)
    unattributed = _pool(parts.unattributed, group_of, sum)
    benchmark = scope.benchmark
    result: dict[G, DoraSummary] = {}
    for group, (start, end) in windows.items():
        recovered = recoveries.get(group, Recoveries())
        result[group] = DoraSummary(
            window=Window(start, end),
            deployment_frequency=deployment_frequency.compute(
                deployments.get(group, 0), end - start, benchmark
            ),
            change_lead_time=change_lead_time.compute(leads.get(group, []), benchmark),
            change_fail_rate=change_fail_rate.compute(
                fails.get(group, change_fail_rate.Tally()), benchmark
            ),
            failed_deployment_recovery_time=failed_deployment_recovery_time.compute(
                recovered.samples_us, recovered.unrecovered, benchmark
            ),
            deployment_rework_rate=deployment_rework_rate.compute(
                rework.get(group, deployment_rework_rate.Tally())
            ),
            time_to_restore=time_to_restore.compute(restores.get(group, [])),
            unattributed_incidents=unattributed_incidents.compute([unattributed.get(group, 0)]),
        )
    return result


def _fields(summary: DoraSummary) -> dict[str, Any]:
    return {name: getattr(summary, name) for name in summary.__dataclass_fields__}


__all__ = [
    "DoraSummary",
    "GroupBy",
    "Period",
    "TrendPoint",
    "Window",
    "breakdown",
    "bucket_boundaries",
    "dora_summary",
    "summary_and_trend",
    "trend",
]
