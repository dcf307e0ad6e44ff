"""The dashboard's shared sidebar filters, kept in the URL so a view can be shared and reloaded.

Every widget is bound to a query parameter (`bind="query-params"`, its key is the name:
`period`, `from_to`, `team`, `service`, `env`, `benchmark`) and keeps its value across
pages (`persist_state="session"`). Invalid values in a URL are dropped by Streamlit, so
a stale link falls back to the defaults rather than failing. The result is a plain,
hashable `DashboardFilters`, which the cached queries key on.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

import streamlit as st

from metrics.benchmarks import BENCHMARKS, DEFAULT_BENCHMARK
from reports.dimensions import Dimensions

PERIOD_KEY, RANGE_KEY, TEAM_KEY, SERVICE_KEY, ENV_KEY, BENCHMARK_KEY = (
    "period",
    "from_to",
    "team",
    "service",
    "env",
    "benchmark",
)
CUSTOM = "Custom range"
# The labels are the option values: a bound widget writes what it shows into the URL.
PRESETS: dict[str, int | None] = {
    "Last 7 days": 7,
    "Last 30 days": 30,
    "Last 90 days": 90,
    "Last 180 days": 180,
    "Last 365 days": 365,
    CUSTOM: None,
}
DEFAULT_PERIOD = "Last 90 days"
ALL_TEAMS, ALL_SERVICES, PRODUCTION = "All teams", "All services", "Production"


@dataclass(frozen=True)
class DashboardFilters:
    """What every dashboard page is filtered by: plain values, hashable for `st.cache_data`.

    Attributes:
        since: First day of the window (UTC, inclusive).
        until: Day after the last day (exclusive), so a window is whole days.
        team: Only this team's services.
        service: Only this service.
        environment: Treat this environment as production (None: the configured set).
        benchmark: Report year of the tier table.
    """

    since: date
    until: date
    team: str | None = None
    service: str | None = None
    environment: str | None = None
    benchmark: int = DEFAULT_BENCHMARK

    @property
    def days(self) -> int:
        """Length of the window in days."""
        return (self.until - self.since).days

    @property
    def since_at(self) -> datetime:
        """Start of the window as a UTC time."""
        return datetime(self.since.year, self.since.month, self.since.day, tzinfo=UTC)

    @property
    def until_at(self) -> datetime:
        """End of the window as a UTC time."""
        return datetime(self.until.year, self.until.month, self.until.day, tzinfo=UTC)

    def previous(self) -> DashboardFilters:
        """The window of the same length just before this one, same other filters."""
        return replace(self, since=self.since - timedelta(days=self.days), until=self.since)

    def describe(self) -> str:
        """One line saying what is shown, e.g. `2026-09-02 to 2026-11-30 · team payments`."""
        last = self.until - timedelta(days=1)
        parts = [f"{self.since:%Y-%m-%d} to {last:%Y-%m-%d} ({self.days} days)"]
        if self.team:
            parts.append(f"team {self.team}")
        if self.service:
            parts.append(f"service {self.service}")
        parts.append(f"environment {self.environment}" if self.environment else "production")
        return " · ".join(parts)


def today() -> date:
    """The current UTC date (the app's clock is UTC, like the data)."""
    return datetime.now(UTC).date()


def preset_window(preset: str, *, on: date) -> tuple[date, date]:
    """The `[since, until)` days of a preset that ends with the day `on` (included)."""
    days = PRESETS[preset] or PRESETS[DEFAULT_PERIOD] or 90
    until = on + timedelta(days=1)
    return until - timedelta(days=days), until


def sidebar_filters(choices: Dimensions) -> DashboardFilters:
    """Draw the filters in the sidebar and return what they select."""
    sidebar = st.sidebar
    sidebar.header("Filters")
    preset = sidebar.selectbox(
        "Period",
        list(PRESETS),
        index=list(PRESETS).index(DEFAULT_PERIOD),
        key=PERIOD_KEY,
        bind="query-params",
        persist_state="session",
    )
    since, until = preset_window(preset, on=today())
    if preset == CUSTOM:
        picked = sidebar.date_input(
            "From - to (UTC)",
            value=(since, until - timedelta(days=1)),
            key=RANGE_KEY,
            bind="query-params",
            persist_state="session",
        )
        # While a range is half picked the widget returns one date; keep the preset until done.
        if isinstance(picked, tuple) and len(picked) == 2:
            since, until = picked[0], picked[1] + timedelta(days=1)
    team = sidebar.selectbox(
        "Team",
        [ALL_TEAMS, *choices.teams],
        key=TEAM_KEY,
        bind="query-params",
        persist_state="session",
    )
    service = sidebar.selectbox(
        "Service",
        [ALL_SERVICES, *choices.services],
        key=SERVICE_KEY,
        bind="query-params",
        persist_state="session",
    )
    environment = sidebar.selectbox(
        "Environment",
        [PRODUCTION, *(env for env in choices.environments if env)],
        key=ENV_KEY,
        help="Production uses the configured production environments; another name is "
        "treated as production on its own, so staging can be inspected the same way.",
        bind="query-params",
        persist_state="session",
    )
    benchmark = sidebar.selectbox(
        "Tier benchmark (DORA report year)",
        sorted(BENCHMARKS, reverse=True),
        index=sorted(BENCHMARKS, reverse=True).index(DEFAULT_BENCHMARK),
        key=BENCHMARK_KEY,
        bind="query-params",
        persist_state="session",
    )
    return DashboardFilters(
        since=since,
        until=until,
        team=None if team == ALL_TEAMS else team,
        service=None if service == ALL_SERVICES else service,
        environment=None if environment == PRODUCTION else environment,
        benchmark=int(benchmark),
    )
