"""Runs collectors: the only place with side effects (lease, cursor, rows, run record, errors).

For one stream, `Runner.run`:

1. takes the stream's lease in `collector_state` with one conditional UPDATE (free, expired
   or already ours), so two workers on one database never collect a stream at once;
2. opens a `collector_runs` row;
3. builds the client (reading the credential named by `token_env`) and calls the
   collector with the stored cursor;
4. writes every batch in its own transaction through `RecordWriter`, renewing the lease
   and saving the batch's cursor (if any) in that same transaction, so a cursor never
   covers rows that were not committed; a failure rolls back only the batch at hand;
5. stops after the batch being written when `stop` is set (Ctrl-C, SIGTERM);
6. records the outcome on the run row and the state (last success, last error in plain
   words, consecutive failures) and releases the lease.

A failing stream never stops the others: `run_all` runs each in turn and reports each.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from collectors.registry import CLIENTS, NEEDS_SECRET, ClientContext
from collectors.spec import Cursor, Scope
from collectors.streams import Stream
from errors import LeaseLost, SourceConfigError, SourceError
from ingest.writer import RecordWriter
from integrations.http import CachedResponse, RetryPolicy
from models import CollectorRun, CollectorState, HttpCacheEntry
from models.db import upsert
from settings import Settings

logger = logging.getLogger(__name__)

DEFAULT_LEASE = timedelta(minutes=10)
MAX_PROBLEMS_KEPT = 50
# Cache entries are refreshed only by a 200, so a page answering 304 for this long is
# dropped and fetched whole once more: that bounds the cache's size at one extra request.
HTTP_CACHE_DAYS = 45


def default_owner() -> str:
    """A lease owner name unique to this process: host, pid and a random tag."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def utc_now() -> datetime:
    """The current time, aware UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class RunResult:
    """How one stream's run ended.

    Attributes:
        key: The stream key.
        status: success, failed, stopped or busy (another worker holds the lease).
        rows: Rows written.
        skipped: Records or files skipped.
        error: What went wrong, in words a user can act on (failed runs).
        problems: The skipped records or files, described.
    """

    key: str
    status: str
    rows: int = 0
    skipped: int = 0
    error: str | None = None
    problems: tuple[str, ...] = ()


def _state_filter(stream: Stream) -> Any:
    return (
        (CollectorState.connection == stream.connection)
        & (CollectorState.stream == stream.spec.stream)
        & (CollectorState.scope == stream.scope)
    )


def ensure_state(session: Session, stream: Stream) -> None:
    """Create the stream's `collector_state` row if it does not exist yet."""
    dialect = session.connection().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(CollectorState).values(
        connection=stream.connection,
        stream=stream.spec.stream,
        scope=stream.scope,
        consecutive_failures=0,
    )
    session.execute(statement.on_conflict_do_nothing(index_elements=CollectorState.natural_key))


def acquire_lease(
    session: Session, stream: Stream, owner: str, now: datetime, duration: timedelta
) -> bool:
    """Take the stream's lease if it is free, expired or already `owner`'s.

    One conditional UPDATE: on PostgreSQL the row lock makes concurrent attempts
    serialize, and the loser's re-checked WHERE no longer matches, so exactly one wins.
    """
    result = session.execute(
        update(CollectorState)
        .where(_state_filter(stream))
        .where(
            or_(
                CollectorState.lease_owner.is_(None),
                CollectorState.lease_expires_at < now,
                CollectorState.lease_owner == owner,
            )
        )
        .values(lease_owner=owner, lease_expires_at=now + duration)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def release_lease(session: Session, stream: Stream, owner: str) -> None:
    """Give the lease up (only if `owner` still holds it)."""
    session.execute(
        update(CollectorState)
        .where(_state_filter(stream), CollectorState.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )


@dataclass
class DatabaseHttpCache:
    """The conditional-request cache in `http_cache`: reads now, writes with the next batch.

    Writing a fetched page's validators only with the rows built from it means a failed
    batch never leaves a cache entry that would make the next run skip its data.
    """

    sessions: sessionmaker[Session]
    now: datetime
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)

    def get(self, key: str) -> CachedResponse | None:
        """Return the entry under `key`: a pending one, else the stored one."""
        if key in self.pending:
            row = self.pending[key]
            return CachedResponse(row["etag"], row["last_modified"], row["body"], row["next_url"])
        with self.sessions() as session:
            entry = session.scalars(select(HttpCacheEntry).where(HttpCacheEntry.key == key)).first()
        if entry is None:
            return None
        return CachedResponse(entry.etag, entry.last_modified, entry.body, entry.next_url)

    def put(self, key: str, url: str, response: CachedResponse) -> None:
        """Remember a response until the next batch is written."""
        self.pending[key] = {
            "key": key,
            "url": url,
            "etag": response.etag,
            "last_modified": response.last_modified,
            "next_url": response.next_url,
            "body": response.body,
            "fetched_at": self.now,
        }

    def write(self, session: Session) -> None:
        """Store the pending entries in `session`'s transaction."""
        if self.pending:
            upsert(session, HttpCacheEntry, list(self.pending.values()))
            self.pending.clear()


@dataclass
class Runner:
    """Runs streams against one database (see the module docstring).

    Attributes:
        sessions: Session factory of the database.
        settings: The settings (for the service catalog).
        environ: Where credentials are read from (the process environment).
        owner: This worker's lease owner name.
        clock: The current time.
        lease: How long a lease lasts without renewal (renewed every batch).
        stop: When set, runs stop after the batch being written.
        transport: httpx transport override for the clients (None: the network).
        sleep: How clients wait between retries (None: really sleep).
        retry: Retry policy override for the clients.
    """

    sessions: sessionmaker[Session]
    settings: Settings
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    owner: str = field(default_factory=default_owner)
    clock: Callable[[], datetime] = utc_now
    lease: timedelta = DEFAULT_LEASE
    stop: threading.Event = field(default_factory=threading.Event)
    transport: httpx.BaseTransport | None = None
    sleep: Callable[[float], None] | None = None
    retry: RetryPolicy | None = None

    def run_all(self, streams: Iterable[Stream]) -> list[RunResult]:
        """Run each stream in turn; one failing never stops the next. Stops early on `stop`."""
        results = []
        for stream in streams:
            if self.stop.is_set():
                break
            results.append(self.run(stream))
        return results

    def run(self, stream: Stream) -> RunResult:
        """Collect one stream once; never raises for a source problem (see `RunResult`)."""
        started = self.clock()
        with self.sessions.begin() as session:
            ensure_state(session, stream)
        with self.sessions.begin() as session:
            if not acquire_lease(session, stream, self.owner, started, self.lease):
                return RunResult(stream.key, "busy")
        with self.sessions.begin() as session:
            run = CollectorRun(stream=stream.key, started_at=started, status="running")
            session.add(run)
            session.flush()
            run_id = run.id
        tally = _Tally()
        try:
            status = self._collect(stream, started, tally)
        except SourceError as exc:
            return self._finish(stream, run_id, "failed", tally, str(exc))
        except Exception as exc:
            # The one broad catch: a bug in one collector must not stop the other streams.
            logger.exception("collector %s failed unexpectedly", stream.key)
            error = f"internal error ({type(exc).__name__}: {exc}); see the worker log"
            return self._finish(stream, run_id, "failed", tally, error)
        return self._finish(stream, run_id, status, tally, None)

    def _collect(self, stream: Stream, now: datetime, tally: _Tally) -> str:
        with self.sessions() as session:
            state = session.scalars(select(CollectorState).where(_state_filter(stream))).one()
            cursor: Cursor | None = state.cursor
        cache = DatabaseHttpCache(self.sessions, now)
        client = CLIENTS[stream.config.kind](
            ClientContext(
                stream.connection,
                stream.config,
                self._secret(stream),
                cache,
                self.transport,
                self.sleep,
                self.retry,
            )
        )
        scope = Scope(stream.connection, stream.scope, stream.config, now, self.settings.services)
        batches = stream.spec.collect(client, scope, cursor)
        try:
            for batch in batches:
                with self.sessions.begin() as session:
                    if not acquire_lease(session, stream, self.owner, self.clock(), self.lease):
                        msg = f"{stream.key}: another worker took over the lease; stopped"
                        raise LeaseLost(msg)
                    writer = RecordWriter(session)
                    for record in batch.records:
                        writer.add(record)
                    writer.flush()
                    cache.write(session)
                    if batch.cursor is not None:
                        session.execute(
                            update(CollectorState)
                            .where(_state_filter(stream))
                            .values(cursor=batch.cursor)
                            .execution_options(synchronize_session=False)
                        )
                tally.rows += sum(writer.written.values())
                tally.problems.extend(batch.problems)
                tally.problems.extend(f"{r.origin or ''}{r.reason}" for r in writer.rejected)
                if self.stop.is_set():
                    return "stopped"
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()
            client_close = getattr(client, "close", None)
            if client_close is not None:
                client_close()
        return "success"

    def _secret(self, stream: Stream) -> str | None:
        config = stream.config
        if config.token_env is None:
            if config.kind in NEEDS_SECRET:
                msg = (
                    f"connection {stream.connection!r}: set `token_env` to the name of the "
                    "environment variable holding its credential"
                )
                raise SourceConfigError(msg)
            return None
        secret = self.environ.get(config.token_env)
        if not secret:
            msg = (
                f"connection {stream.connection!r}: the environment variable "
                f"{config.token_env} (its token_env) is not set"
            )
            raise SourceConfigError(msg)
        return secret

    def _finish(
        self, stream: Stream, run_id: int, status: str, tally: _Tally, error: str | None
    ) -> RunResult:
        finished = self.clock()
        if error:
            logger.warning("collector %s failed: %s", stream.key, error)
        with self.sessions.begin() as session:
            run = session.get_one(CollectorRun, run_id)
            run.finished_at = finished
            run.status = status
            run.rows = tally.rows
            run.error = error
            run.skipped = len(tally.problems)
            run.problems = tally.problems[:MAX_PROBLEMS_KEPT] or None
            state = session.scalars(select(CollectorState).where(_state_filter(stream))).one()
            if error is None:
                state.last_error = None
                state.consecutive_failures = 0
                if status == "success":
                    state.last_success_at = finished
                    session.execute(
                        delete(HttpCacheEntry).where(
                            HttpCacheEntry.fetched_at < finished - timedelta(days=HTTP_CACHE_DAYS)
                        )
                    )
            else:
                state.last_error = error
                state.consecutive_failures += 1
            release_lease(session, stream, self.owner)
        return RunResult(
            stream.key, status, tally.rows, len(tally.problems), error, tuple(tally.problems)
        )


@dataclass
class _Tally:
    rows: int = 0
    problems: list[str] = field(default_factory=list)


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Within the block, Ctrl-C and SIGTERM set `stop` instead of killing the process.

    The run in progress then ends after the batch it is writing has committed. A second
    Ctrl-C interrupts at once, for when a request hangs.
    """
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handle(signum: int, _frame: object) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        logger.warning("stopping after the current page (signal %s)", signum)
        stop.set()

    for sig in previous:
        signal.signal(sig, handle)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
