"""What a metric query asks for (`Filters`) and the validated form the loaders use (`Scope`).

Filters are plain values, so the UI can cache on them. `resolve` checks them against the
database (an unknown service or team, an empty window and an unknown benchmark year are
`InputError`s) and fills the defaults: the window is `[since, until)` and defaults to the
90 days ending now. Times without a zone are taken as UTC.

The loaders group their SQL by (bucket, service) as far as asked: `bucket` is the index
of a trend bucket (None without trend buckets), `service` the service for breakdowns
("" otherwise). Teams are pooled from the per-service parts, never averaged.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, String, case, cast, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from errors import InputError
from metrics.benchmarks import BENCHMARKS, DEFAULT_BENCHMARK, Benchmark
from metrics.config import EngineConfig
from models import Deployment, Incident, Service

DEFAULT_WINDOW = timedelta(days=90)

Key = tuple[int | None, str]
"""A loader's group: (trend bucket index or None, service)."""


@dataclass(frozen=True)
class Filters:
    """Which slice of the data a metric covers.

    Attributes:
        since: Inclusive start (default: `until` minus 90 days).
        until: Exclusive end (default: now).
        services: Only these services (empty: all).
        team: Only the services of this team.
        environment: Treat this environment, and only it, as production.
        benchmark: Report year of the tier table (2021, 2023 or 2024).
        config: The engine settings (production environments, hotfix patterns, window).
    """

    since: datetime | None = None
    until: datetime | None = None
    services: tuple[str, ...] = ()
    team: str | None = None
    environment: str | None = None
    benchmark: int = DEFAULT_BENCHMARK
    config: EngineConfig = field(default_factory=EngineConfig)


@dataclass(frozen=True)
class Scope:
    """Validated filters.

    Attributes:
        since: Inclusive start, UTC.
        until: Exclusive end, UTC.
        services: The services in scope, or None for all.
        teams: Team of every known service (None: no team); empty unless a filter or
            breakdown needed the catalog.
        benchmark: The tier table.
        config: The effective engine settings (`--environment` applied).
        buckets: Trend bucket boundaries (n + 1 times for n buckets), or None.
        by_service: Whether loaders keep services apart (for breakdowns); otherwise every
            key's service is "".
    """

    since: datetime
    until: datetime
    services: tuple[str, ...] | None
    teams: dict[str, str | None]
    benchmark: Benchmark
    config: EngineConfig
    buckets: tuple[datetime, ...] | None = None
    by_service: bool = False

    @property
    def profile(self) -> str:
        """The attribution profile the derived rows are read from."""
        return self.config.profile

    @property
    def window(self) -> timedelta:
        """Length of the window."""
        return self.until - self.since

    def conditions(
        self, service: InstrumentedAttribute[str], at: InstrumentedAttribute[datetime]
    ) -> list[ColumnElement[bool]]:
        """WHERE clauses: the window on `at`, the services on `service`."""
        clauses = [at >= self.since, at < self.until]
        if self.services is not None:
            clauses.append(service.in_(self.services))
        return clauses

    def groups(
        self, service: InstrumentedAttribute[str], at: InstrumentedAttribute[datetime]
    ) -> list[ColumnElement[Any] | InstrumentedAttribute[str]]:
        """The GROUP BY columns: the trend bucket of `at`, and `service`, when asked for."""
        columns: list[ColumnElement[Any] | InstrumentedAttribute[str]] = []
        if self.buckets is not None:
            whens = [(at < end, index) for index, end in enumerate(self.buckets[1:])]
            columns.append(case(*whens, else_=None))
        if self.by_service:
            columns.append(service)
        return columns

    def _key(self, row: Sequence[Any]) -> Key:
        bucket = row[0] if self.buckets is not None else None
        service = row[-1] if self.by_service else ""
        return (bucket, service)

    @property
    def _width(self) -> int:
        return (self.buckets is not None) + self.by_service

    def values(self, session: Session, statement: Select[Any]) -> dict[Key, list[Any]]:
        """Run `SELECT *groups, value` and collect the values per key.

        Rows are read through the Core connection, not the ORM: at tens of thousands of
        samples, ORM row processing costs more than the query.
        """
        result = session.connection().execute(statement)
        width = self._width
        if not width:
            return {(None, ""): list(result.scalars())}
        grouped: dict[Any, list[Any]] = defaultdict(list)
        if width == 1:
            for group, value in result.all():
                grouped[(group,)].append(value)
        else:
            for bucket, service, value in result.all():
                grouped[bucket, service].append(value)
        return {self._key(group): values for group, values in grouped.items()}

    def samples(self, session: Session, statement: Select[Any]) -> dict[Key, list[int]]:
        """Run `SELECT *groups, sample` (integers, never null) and collect the samples per key.

        The database joins each key's samples into one string (`group_concat` on SQLite,
        `string_agg` on PostgreSQL) that is split here: a row per key instead of one per
        sample, which at tens of thousands of samples is three to four times faster.
        """
        found = statement.subquery()
        *groups, sample = found.c
        joined = select(*groups, func.aggregate_strings(cast(sample, String), ",")).group_by(
            *groups
        )
        return {
            self._key(row[:-1]): list(map(int, row[-1].split(",")))
            for row in session.connection().execute(joined)
            if row[-1] is not None  # no GROUP BY: one row, null, when nothing matched
        }

    def tallies(self, session: Session, statement: Select[Any]) -> dict[Key, tuple[Any, ...]]:
        """Run `SELECT *groups, aggregates... GROUP BY *groups`; the aggregates per key."""
        width = self._width
        return {
            self._key(row[:width]): tuple(row[width:])
            for row in session.connection().execute(statement)
        }


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _distinct(column: InstrumentedAttribute[str]) -> Select[str]:
    """Distinct values of an indexed column by hopping through its index, one seek each.

    A loose index scan (a recursive CTE of "the next value after this one"), which neither
    SQLite nor PostgreSQL does on its own for DISTINCT.
    """
    names = select(func.min(column).label("name")).cte("names", recursive=True)
    after = select(func.min(column)).where(column > names.c.name).scalar_subquery()
    names = names.union_all(select(after).where(names.c.name.is_not(None)))
    return select(names.c.name).where(names.c.name.is_not(None))


def known_services(session: Session) -> dict[str, str | None]:
    """Every service of the catalog or with data, with its team (None: none)."""
    teams: dict[str, str | None] = {}
    for column in (Deployment.service, Incident.service):
        teams.update(dict.fromkeys(session.scalars(_distinct(column))))
    teams.update((name, team) for name, team in session.execute(select(Service.name, Service.team)))
    return teams


def resolve(
    session: Session,
    filters: Filters,
    *,
    now: datetime | None = None,
    buckets: Sequence[datetime] | None = None,
    catalog: bool = False,
) -> Scope:
    """Validate `filters` and fill in their defaults.

    Args:
        session: An open session (reads the service catalog).
        filters: What was asked.
        now: The current time (default: the clock), for the default window.
        buckets: Trend bucket boundaries, if the caller groups by time.
        catalog: Load every service's team even without a service or team filter (for
            breakdowns); otherwise `Scope.teams` is empty when nothing is filtered.

    Raises:
        InputError: An unknown service, team or benchmark year, or `until` not after `since`.
    """
    if filters.benchmark not in BENCHMARKS:
        years = ", ".join(str(year) for year in BENCHMARKS)
        msg = f"--benchmark: unknown report year {filters.benchmark} (expected {years})"
        raise InputError(msg)
    until = _utc(filters.until) if filters.until else _utc(now or datetime.now(UTC))
    since = _utc(filters.since) if filters.since else until - DEFAULT_WINDOW
    if until <= since:
        msg = f"--until ({until.isoformat()}) must be after --since ({since.isoformat()})"
        raise InputError(msg)
    needed = catalog or bool(filters.services) or filters.team is not None
    teams = known_services(session) if needed else {}
    services: tuple[str, ...] | None = None
    if filters.services:
        unknown = sorted(set(filters.services) - set(teams))
        if unknown:
            msg = f"--service: unknown service {', '.join(map(repr, unknown))}"
            raise InputError(msg)
        services = tuple(sorted(set(filters.services)))
    if filters.team is not None:
        if filters.team not in set(teams.values()):
            msg = f"--team: no service belongs to team {filters.team!r}"
            raise InputError(msg)
        of_team = [name for name, team in teams.items() if team == filters.team]
        services = tuple(sorted(set(of_team) & set(services if services is not None else teams)))
    if filters.environment is not None and not filters.environment.strip():
        msg = "--environment: give an environment name"
        raise InputError(msg)
    config = filters.config
    if filters.environment is not None:
        config = config.for_environment(filters.environment.strip())
    return Scope(
        since=since,
        until=until,
        services=services,
        teams=teams,
        benchmark=BENCHMARKS[filters.benchmark],
        config=config,
        buckets=tuple(buckets) if buckets is not None else None,
        by_service=catalog,
    )
