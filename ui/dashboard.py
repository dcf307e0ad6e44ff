"""Cached, page-facing reads of the dashboard pages: one function per page view, plus drill-downs.

Each function takes plain, hashable values (a `DashboardFilters`, strings, ints), opens
one session for its whole read, calls the DORA engine (`metrics`) or `reports`, and
returns dataclasses or DataFrames; `st.cache_data` keys on those arguments, so reruns
and going back to an earlier filter cost nothing for `CACHE_SECONDS`. Sessions are
opened with `begin()` because the engine refreshes its derived tables in the caller's
transaction: committing keeps that work for the next query.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pandas as pd
import streamlit as st
from sqlalchemy.orm import Session

import metrics
from metrics import drilldown
from metrics.derived import prepare
from metrics.scope import Filters, resolve
from metrics.summary import Period, bucket_boundaries
from reports import build_health, delivery
from reports.dimensions import Dimensions, dimensions
from reports.freshness import StaleStream, stale_streams
from ui.context import database_errors, sessions, settings_or_stop
from ui.filters import DashboardFilters

CACHE_SECONDS = 30
DRILL_LIMIT = 2000
T = TypeVar("T")

DORA_METRICS = {
    "deployment_frequency": "Deployment frequency",
    "change_lead_time": "Change lead time",
    "change_fail_rate": "Change fail rate",
    "failed_deployment_recovery_time": "Failed deployment recovery time",
    "deployment_rework_rate": "Deployment rework rate",
}
DRILLS = {
    **DORA_METRICS,
    "time_to_restore": "Time to restore (incidents)",
    "unattributed_incidents": "Unattributed incidents",
}


@contextmanager
def _reading() -> Iterator[Session]:
    """A session whose work is committed; an unreadable database becomes `DatabaseUnavailable`."""
    with database_errors(), sessions().begin() as session:
        yield session


def _read(work: Callable[[Session], T]) -> T:
    with _reading() as session:
        return work(session)


def engine_filters(
    f: DashboardFilters, *, service: str | None = None, team: str | None = None
) -> Filters:
    """The engine's `Filters` for the dashboard filters, optionally narrowed to a group."""
    services = (service,) if service else ((f.service,) if f.service else ())
    return Filters(
        since=f.since_at,
        until=f.until_at,
        services=services,
        team=team or f.team,
        environment=f.environment,
        benchmark=f.benchmark,
        config=metrics.EngineConfig.from_settings(settings_or_stop()),
    )


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)
def filter_choices() -> Dimensions:
    """The teams, services and environments the sidebar offers."""
    return _read(dimensions)


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)
def stale_sources() -> list[StaleStream]:
    """Configured collector streams that have not succeeded for longer than allowed."""
    intervals = {
        name: timedelta(minutes=source.interval_minutes)
        for name, source in settings_or_stop().sources.items()
    }
    if not intervals:
        return []
    return _read(lambda session: stale_streams(session, intervals, now=datetime.now(UTC)))


@dataclass(frozen=True)
class OverviewData:
    """The Overview's numbers: this window and the one before it, with groups, and weekly trend."""

    current: metrics.DoraSummary
    previous: metrics.DoraSummary
    trend: tuple[metrics.TrendPoint, ...]


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)
def overview(f: DashboardFilters, by: str) -> OverviewData:
    """The five metrics now and in the previous equal window, per `by` group, and per week."""
    group = metrics.GroupBy(by)

    def work(session: Session) -> OverviewData:
        current, weekly = metrics.summary_and_trend(session, engine_filters(f), by=group)
        previous = metrics.dora_summary(session, engine_filters(f.previous()), by=group)
        return OverviewData(current, previous, tuple(weekly))

    return _read(work)


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns)


def _records_frame(records: Sequence[Any]) -> pd.DataFrame:
    """One row per flat dataclass record, one column per field.

    `vars`, not `dataclasses.asdict`: asdict deep-copies every value and took 1.3 s for
    the 27k pull requests of a large organisation's 90 days (vars: 0.08 s).
    """
    return pd.DataFrame([vars(record) for record in records])


_DEPLOYMENT_COLUMNS = [
    "finished_at",
    "deployment",
    "service",
    "environment",
    "version",
    "kind",
    "failed",
    "restored_at",
    "id",
]


def _deployment_dicts(rows: list[drilldown.DeploymentRow]) -> list[dict[str, Any]]:
    return [
        {
            "finished_at": row.finished_at,
            "deployment": row.external_id,
            "service": row.service,
            "environment": row.environment,
            "version": row.version or (row.sha or "")[:12],
            "kind": row.label,
            "failed": row.failed,
            "restored_at": row.restored_at,
            "id": row.id,
        }
        for row in rows
    ]


def _failed_dicts(rows: list[drilldown.FailedDeployment]) -> list[dict[str, Any]]:
    return [
        {
            "finished_at": row.deployment.finished_at,
            "deployment": row.deployment.external_id,
            "service": row.deployment.service,
            "version": row.deployment.version or (row.deployment.sha or "")[:12],
            "why": ", ".join(f"{r.rule} {r.external_id}" for r in row.reasons),
            "restored_at": row.deployment.restored_at,
            "recovery_hours": row.recovery_hours,
            "id": row.deployment.id,
        }
        for row in rows
    ]


_FAILED_COLUMNS = [
    "finished_at",
    "deployment",
    "service",
    "version",
    "why",
    "restored_at",
    "recovery_hours",
    "id",
]
_INCIDENT_COLUMNS = [
    "opened_at",
    "incident",
    "service",
    "severity",
    "title",
    "resolved_at",
    "restore_hours",
    "deployment",
    "link_rule",
]


def _incident_dicts(rows: list[drilldown.IncidentRow]) -> list[dict[str, Any]]:
    return [
        {
            "opened_at": row.opened_at,
            "incident": row.external_id,
            "service": row.service,
            "severity": row.severity,
            "title": row.title,
            "resolved_at": row.resolved_at,
            "restore_hours": row.restore_hours,
            "deployment": row.deployment,
            "link_rule": row.rule,
        }
        for row in rows
    ]


_LEAD_COLUMNS = [
    "finished_at",
    "deployment",
    "service",
    "sha",
    "author",
    "message",
    "authored_at",
    "lead_hours",
]


def _lead_dicts(rows: list[drilldown.LeadTimeSample]) -> list[dict[str, Any]]:
    return [
        {
            "finished_at": row.finished_at,
            "deployment": row.deployment,
            "service": row.service,
            "sha": row.sha[:12],
            "author": row.author,
            "message": row.message,
            "authored_at": row.authored_at,
            "lead_hours": row.hours,
        }
        for row in rows
    ]


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)
def drill(
    f: DashboardFilters, metric: str, service: str | None = None, team: str | None = None
) -> pd.DataFrame:
    """The rows behind one of the Overview's numbers (newest first, at most `DRILL_LIMIT`).

    Args:
        f: The dashboard filters.
        metric: A key of `DRILLS`.
        service: Narrow to this service (a row of the per-service table).
        team: Narrow to this team (a row of the per-team table).
    """
    filters = engine_filters(f, service=service, team=team)

    def work(session: Session) -> pd.DataFrame:
        if metric == "change_lead_time":
            samples = drilldown.lead_time_samples(session, filters, limit=DRILL_LIMIT)
            return _frame(_lead_dicts(samples), _LEAD_COLUMNS)
        if metric in ("change_fail_rate", "failed_deployment_recovery_time"):
            failed = drilldown.failed_deployments(session, filters, limit=DRILL_LIMIT)
            return _frame(_failed_dicts(failed), _FAILED_COLUMNS)
        if metric == "time_to_restore":
            incidents = drilldown.incidents(session, filters, limit=DRILL_LIMIT)
            return _frame(_incident_dicts(incidents), _INCIDENT_COLUMNS)
        if metric == "unattributed_incidents":
            incidents = drilldown.unattributed_incidents(session, filters, limit=DRILL_LIMIT)
            return _frame(_incident_dicts(incidents), _INCIDENT_COLUMNS)
        rows = drilldown.deployments(
            session, filters, rework=metric == "deployment_rework_rate", limit=DRILL_LIMIT
        )
        return _frame(_deployment_dicts(rows), _DEPLOYMENT_COLUMNS)

    return _read(work)


@dataclass(frozen=True)
class DeploymentsData:
    """The Deployments page: counts per week, service and kind, and the deployment list."""

    counts: tuple[delivery.DeploymentCount, ...]
    deployments: pd.DataFrame
    total: int


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)
def deployments_view(f: DashboardFilters) -> DeploymentsData:
    """Weekly deployment counts by service and kind, and the newest deployments."""
    filters = engine_filters(f)

    def work(session: Session) -> DeploymentsData:
        counts = delivery.deployment_counts(session, filters)
        rows = drilldown.deployments(session, filters, limit=DRILL_LIMIT)
        return DeploymentsData(
            tuple(counts),
            _frame(_deployment_dicts(rows), _DEPLOYMENT_COLUMNS),
            sum(count.deployments for count in counts),
        )

    return _read(work)


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)
def deployment_detail(f: DashboardFilters, deployment_id: int) -> delivery.DeploymentDetail | None:
    """Shipped commits, linked incidents, failure and restoration of one deployment."""
    filters = engine_filters(f)
    return _read(
        lambda session: delivery.deployment_detail(
            session, prepare(session, filters), deployment_id
        )
    )


def _median(values: list[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return statistics.median(known) if known else None


@dataclass(frozen=True)
class LeadTimeData:
    """The Lead time page: weekly median/p90, each sample's hours, the slowest, PR stages."""

    trend: tuple[metrics.TrendPoint, ...]
    summary: metrics.DoraSummary
    hours: tuple[float, ...]
    slowest: pd.DataFrame
    stage_medians: dict[str, float | None]
    pull_requests: pd.DataFrame


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)
def lead_time_view(f: DashboardFilters) -> LeadTimeData:
    """Lead-time trend, distribution, slowest changes and the coding/review/waiting split."""
    filters = engine_filters(f)

    def work(session: Session) -> LeadTimeData:
        scope = prepare(session, filters)
        stages = delivery.pull_request_stages(session, scope)
        slowest = delivery.slowest_changes(session, scope)
        summary, weekly = metrics.summary_and_trend(session, filters)
        return LeadTimeData(
            tuple(weekly),
            summary,
            tuple(delivery.lead_time_hours(session, scope)),
            _records_frame(slowest),
            {
                "coding (first commit → opened)": _median([s.coding_hours for s in stages]),
                "review (opened → merged)": _median([s.review_hours for s in stages]),
                "waiting to deploy (merged → production)": _median(
                    [s.waiting_hours for s in stages]
                ),
            },
            _records_frame(stages),
        )

    return _read(work)


@dataclass(frozen=True)
class StabilityData:
    """The Stability page: weekly fail and rework rates, the timeline's events, recoveries."""

    trend: tuple[metrics.TrendPoint, ...]
    summary: metrics.DoraSummary
    deployments: tuple[drilldown.DeploymentRow, ...]
    incidents: tuple[drilldown.IncidentRow, ...]
    failed: pd.DataFrame
    unattributed: pd.DataFrame


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)
def stability_view(f: DashboardFilters) -> StabilityData:
    """Fail/rework trends, deployments and incidents on one axis, recovery times, unattributed."""
    filters = engine_filters(f)

    def work(session: Session) -> StabilityData:
        incidents = drilldown.incidents(session, filters)
        failed = drilldown.failed_deployments(session, filters)
        summary, weekly = metrics.summary_and_trend(session, filters)
        return StabilityData(
            tuple(weekly),
            summary,
            tuple(drilldown.deployments(session, filters, limit=DRILL_LIMIT)),
            tuple(incidents),
            _frame(_failed_dicts(failed), _FAILED_COLUMNS),
            _frame(
                _incident_dicts([i for i in incidents if i.deployment is None]), _INCIDENT_COLUMNS
            ),
        )

    return _read(work)


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)
def builds_view(f: DashboardFilters) -> build_health.BuildHealth:
    """Pipeline success and duration, failing, flaky, regressed, slow tests, tests by kind."""
    filters = engine_filters(f)
    settings = settings_or_stop()
    catalog = {name: service.environments for name, service in settings.services.items()}

    def work(session: Session) -> build_health.BuildHealth:
        scope = resolve(session, filters)
        services = scope.services
        if f.environment:
            # Builds have no environment: keep the services that run in the chosen one.
            running = build_health.services_in_environment(session, f.environment, catalog)
            services = running if services is None else tuple(sorted({*running} & {*services}))
        boundaries = bucket_boundaries(scope.since, scope.until, Period.week)
        return build_health.build_health(
            session,
            build_health.BuildScope(scope.since, scope.until, services, tuple(boundaries)),
            settings.test_suite_types,
        )

    return _read(work)
