"""The one path from normalized records to stored rows, used by import, demo and collectors.

Records are buffered per table and upserted in batches inside the caller's transaction,
parents before children: builds are written before the test cases that point at them, so
a test case can name a build from earlier in the same stream. The writer never commits.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, String, bindparam, column, select, tuple_, values
from sqlalchemy.orm import Session

from ingest.records import Record, TestCaseRecord
from models import (
    Base,
    Build,
    Commit,
    Deployment,
    Incident,
    MonitorState,
    PullRequest,
    Service,
    TestCase,
)
from models.db import upsert

# Parents first: test cases reference builds by id.
WRITE_ORDER: tuple[type[Base], ...] = (
    Service,
    Commit,
    PullRequest,
    Build,
    Deployment,
    Incident,
    MonitorState,
    TestCase,
)


# Allocations between two young-generation collections during a bulk write (CPython's
# default is 700).
_BULK_COLLECTION_THRESHOLD = 100_000


@contextmanager
def bulk_writing() -> Iterator[None]:
    """Run the cyclic garbage collector rarely while a bulk write allocates.

    An import allocates millions of short-lived records, rows and tuples, all freed by
    reference counting. With the default thresholds the collector runs every 700 of them
    and now and then rescans every long-lived object (the loaded modules): a seventh of an
    import's time. Freezing what exists and raising the threshold removes that cost; the
    collector still runs, so a cycle created meanwhile is still freed.
    """
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(_BULK_COLLECTION_THRESHOLD, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


@dataclass(frozen=True)
class Rejected:
    """A record the writer could not store, and why.

    Attributes:
        origin: Where the record came from, as the caller described it (a file line).
        reason: What is wrong, in words a user can act on.
    """

    origin: Any
    reason: str


@dataclass
class RecordWriter:
    """Buffers records and upserts them in batches of `batch_size`.

    Attributes:
        session: The session whose transaction receives the rows.
        batch_size: How many buffered records trigger a flush; bounds memory.
        written: Records stored so far, by record type.
        rejected: Records that could not be stored (a test case naming an unknown build).
    """

    session: Session
    batch_size: int = 5000
    written: Counter[str] = field(default_factory=Counter)
    rejected: list[Rejected] = field(default_factory=list)
    _rows: dict[type[Base], list[dict[str, Any]]] = field(default_factory=dict)
    _tests: list[tuple[TestCaseRecord, Any]] = field(default_factory=list)
    _buffered: int = 0

    def add(self, record: Record, origin: Any = None) -> None:
        """Buffer one record, flushing when the buffer is full.

        Args:
            record: The record to store.
            origin: Where it came from, quoted if it has to be rejected.
        """
        if isinstance(record, TestCaseRecord):
            self._tests.append((record, origin))
        else:
            self._rows.setdefault(record.table, []).append(record.row())
        self._buffered += 1
        if self._buffered >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        """Upsert everything buffered, in dependency order."""
        for model in WRITE_ORDER:
            rows = self._rows.pop(model, None)
            if rows:
                self.written[model.__tablename__] += upsert(self.session, model, rows)
        if self._tests:
            self._write_test_cases()
        self._buffered = 0

    def _write_test_cases(self) -> None:
        keys = {(record.source, record.build_id) for record, _ in self._tests}
        build_ids = dict(self._build_ids(keys))
        rows = []
        for record, origin in self._tests:
            build_id = build_ids.get((record.source, record.build_id))
            if build_id is None:
                reason = (
                    f"test_case.build_id: no build {record.build_id!r} from source "
                    f"{record.source!r} earlier in the input or in the database"
                )
                self.rejected.append(Rejected(origin, reason))
                continue
            row = record.row()
            row["build_id"] = build_id
            rows.append(row)
        self._tests.clear()
        self.written[TestCase.__tablename__] += upsert(self.session, TestCase, rows)

    def _build_ids(self, keys: set[tuple[str, str]]) -> list[tuple[tuple[str, str], int]]:
        ordered = sorted(keys)
        lookup = _joined if self.session.get_bind().dialect.name == "postgresql" else _listed
        found: list[tuple[tuple[str, str], int]] = []
        # Chunked to stay under the database's limit on bound parameters.
        for start in range(0, len(ordered), 500):
            rows = self.session.execute(*lookup(ordered[start : start + 500])).all()
            found.extend(((source, external), id_) for source, external, id_ in rows)
        return found


# How test cases find their builds, in batches of (source, id) keys. The planners differ:
# inside one long import the statistics of `builds` predate its rows, and PostgreSQL then
# plans a list of keys as a scan of every build of the source (a second per batch at a
# million builds) but a join with the keys as an index lookup per key. SQLite looks each
# listed key up in the index, and a list is compiled once where a join is compiled anew
# for every batch (a fifth of an import's time).
_LISTED = select(Build.source, Build.external_id, Build.id).where(
    tuple_(Build.source, Build.external_id).in_(bindparam("keys", expanding=True))
)


def _listed(keys: list[tuple[str, str]]) -> tuple[Select[str, str, int], dict[str, Any]]:
    return _LISTED, {"keys": keys}


def _joined(keys: list[tuple[str, str]]) -> tuple[Select[str, str, int], dict[str, Any]]:
    wanted = (
        values(column("source", String), column("external_id", String), name="wanted")
        .data(keys)
        .cte("wanted")
    )
    statement = select(Build.source, Build.external_id, Build.id).join(
        wanted, (Build.source == wanted.c.source) & (Build.external_id == wanted.c.external_id)
    )
    return statement, {}
