"""What a collector is: a generator from (client, scope, cursor) to batches of records.

A collector opens no session, reads no environment and never sleeps: everything it
needs arrives as arguments (the client, the `Scope` with the clock's "now" and the
connection's settings, the cursor it returned last time), and everything it produces
leaves as `Batch`es. The runner writes each batch in one transaction, saving the batch's
cursor (when it carries one) together with its rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from ingest.records import Record
from settings import ServiceConfig, SourceConfig, SourceKind

Cursor = dict[str, Any]


@dataclass(frozen=True)
class Batch:
    """One unit of work for the runner: rows to upsert, then maybe a new cursor.

    Attributes:
        records: Normalized records, written in one transaction.
        cursor: The stream's new cursor, saved in that same transaction; None keeps it.
        problems: Records or files skipped, each described for the user.
    """

    records: Sequence[Record] = ()
    cursor: Cursor | None = None
    problems: Sequence[str] = ()


@dataclass(frozen=True)
class Scope:
    """Everything a collector knows about what it collects, besides client and cursor.

    Attributes:
        connection: The connection's name; also the `source` of every record it makes.
        name: The scope: a repository, a glob, a path or a URL, by kind.
        config: The connection's settings.
        now: The time of this run (aware UTC).
        services: The service catalog, for mapping repositories and environments.
    """

    connection: str
    name: str
    config: SourceConfig
    now: datetime
    services: Mapping[str, ServiceConfig] = field(default_factory=dict)

    def service_for_repo(self, repo: str) -> str | None:
        """The first catalog service that lists `repo`, or None."""
        for service, entry in self.services.items():
            if repo.lower() in (name.lower() for name in entry.repos):
                return service
        return None

    def map_deployment(self, repo: str, environment: str) -> tuple[str, str]:
        """Map a repository and a raw environment name to (service, environment).

        The service is the catalog service listing the repository; when several do (a
        monorepo), the one whose name the environment mentions ("api-production"), whose
        name is then stripped from the environment. The environment takes the catalog's
        spelling when the service lists it; otherwise it is kept as the source named it.
        Without a catalog entry the service is the repository's name.
        """
        candidates = [
            (name, entry)
            for name, entry in self.services.items()
            if repo.lower() in (r.lower() for r in entry.repos)
        ]
        if not candidates:
            return repo.rsplit("/", 1)[-1], environment
        service, entry = candidates[0]
        for name, candidate in candidates:
            lowered = environment.lower()
            if name.lower() in lowered and len(candidates) > 1:
                service, entry = name, candidate
                environment = lowered.replace(name.lower(), "").strip("-_/: ") or environment
                break
        for known in entry.environments:
            if known.lower() == environment.lower():
                return service, known
        return service, environment

    def start(self, cursor_time: datetime | None) -> datetime:
        """Where a time window starts: the cursor less the lookback, or the backfill horizon."""
        if cursor_time is None:
            return self.now - timedelta(days=self.config.backfill_days)
        return cursor_time - timedelta(minutes=self.config.lookback_minutes)

    @property
    def settled(self) -> datetime:
        """The latest time a cursor may reach: now less the settle delay."""
        return self.now - timedelta(minutes=self.config.settle_minutes)

    @property
    def open_horizon(self) -> datetime:
        """Unfinished items created before this are no longer re-polled."""
        return self.now - timedelta(days=self.config.max_open_days)


Collect = Callable[[Any, Scope, Cursor | None], Iterator[Batch]]


@dataclass(frozen=True)
class CollectorSpec:
    """A stream, declared as data (the registry lists them).

    Attributes:
        kind: The source kind it reads (`settings.SourceKind`).
        stream: Its name within the kind, e.g. `workflow_runs`.
        entity: What it fills, e.g. `builds`.
        description: One line for the Sources page and `--help`.
        collect: The collector.
    """

    kind: SourceKind
    stream: str
    entity: str
    description: str
    collect: Collect


def lagged(batches: Iterable[Batch], final_cursor: Callable[[], Cursor]) -> Iterator[Batch]:
    """Yield `batches`, attaching `final_cursor()` to the last one.

    The last page's rows and the cursor that covers them then commit together; the
    cursor is computed only once every batch has been produced.
    """
    pending: Batch | None = None
    for batch in batches:
        if pending is not None:
            yield pending
        pending = batch
    yield replace(pending or Batch(), cursor=final_cursor())


def parse_time(value: str | None) -> datetime | None:
    """Parse an ISO 8601 time with a zone (`Z` or offset); None stays None."""
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        msg = f"timestamp {value!r} has no time zone"
        raise ValueError(msg)
    return parsed.astimezone(UTC)


def required_time(item: Mapping[str, Any], key: str) -> datetime:
    """Parse the time `item[key]`, which must be present and not null.

    Raises:
        KeyError: The field is missing.
        ValueError: It is null or not an ISO 8601 time with a zone.
    """
    parsed = parse_time(item[key])
    if parsed is None:
        msg = f"{key} must not be null"
        raise ValueError(msg)
    return parsed


def iso(value: datetime) -> str:
    """Format an aware time as `YYYY-MM-DDTHH:MM:SSZ` (GitHub's search syntax wants `Z`)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
