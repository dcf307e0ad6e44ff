"""Derived CI summaries: finished builds and their test cases rolled up per UTC day.

The Builds & tests page reads these instead of raw builds and test cases
(`reports.test_rollup` keeps them current). A row summarises one UTC day (of the
build's `finished_at`), service and pipeline; only finished builds (`success` or
`failure`) count, and skipped test cases are left out, as the page counts them. A build
without a service or pipeline is stored under `""` (no source record has an empty name),
so the key columns can be part of the primary key.

Both rollup tables are clustered by their key on SQLite (`WITHOUT ROWID`): the page reads
a range of days, which is then one contiguous stretch of the table.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, JSONValue


def pack_minutes(minutes: Sequence[float]) -> bytes:
    """Durations as stored in `BuildRollup.minutes`: little-endian IEEE doubles, bit-exact."""
    return struct.pack(f"<{len(minutes)}d", *minutes)


def unpack_minutes(packed: bytes) -> tuple[float, ...]:
    """The durations `pack_minutes` stored."""
    return struct.unpack(f"<{len(packed) // 8}d", packed)


class BuildRollup(Base):
    """A pipeline's finished builds on one day.

    Attributes:
        builds: Finished builds.
        succeeded: Of which `success`.
        minutes: Duration of every build that has a start time, in minutes, exactly as
            `(finished_at - started_at).total_seconds() / 60` (percentiles need them all),
            packed as little-endian doubles (`pack_minutes`): reading them back is a copy,
            where parsing the same numbers as JSON text was most of the page's time.
        last_build_id: The day's last build (latest `finished_at`, then highest id).
    """

    __tablename__ = "build_rollups"
    __table_args__ = ({"sqlite_with_rowid": False},)
    natural_key = ("day", "service", "pipeline")

    day: Mapped[date] = mapped_column(primary_key=True)
    service: Mapped[str] = mapped_column(String(200), primary_key=True)
    pipeline: Mapped[str] = mapped_column(String(255), primary_key=True)
    builds: Mapped[int] = mapped_column(Integer)
    succeeded: Mapped[int] = mapped_column(Integer)
    minutes: Mapped[bytes] = mapped_column(LargeBinary)
    last_build_id: Mapped[int] = mapped_column(BigInteger)


class RollupTest(Base):
    """One distinct test (suite, class, name), numbered so rollup rows group on an integer."""

    __tablename__ = "rollup_tests"
    __table_args__ = (UniqueConstraint("suite", "classname", "name"),)
    natural_key = ("suite", "classname", "name")

    id: Mapped[int] = mapped_column(primary_key=True)
    suite: Mapped[str] = mapped_column(String(500))
    classname: Mapped[str] = mapped_column(String(500))
    name: Mapped[str] = mapped_column(String(500))


class TestRollup(Base):
    """One test's attempts in a pipeline's finished builds of one day.

    Attributes:
        runs: Its first attempts (the builds that ran it).
        failed: Failed or errored attempts, rescued by a retry or not.
        flaky: Passes marked flaky (a failure that a later attempt rescued).
        seconds: Sum of the timed attempts' durations.
        timed: Attempts with a duration.
        in_last: First attempts in the day's last build of the pipeline (0 or 1): what
            "the suites as of a pipeline's last build" counts.
    """

    __tablename__ = "test_rollups"
    __test__ = False  # not a pytest test class, despite the name
    __table_args__ = (
        # The flaky-test lookup reads one test's days.
        Index(None, "test_id", "day"),
        {"sqlite_with_rowid": False},
    )
    natural_key = ("day", "service", "pipeline", "test_id")

    day: Mapped[date] = mapped_column(primary_key=True)
    service: Mapped[str] = mapped_column(String(200), primary_key=True)
    pipeline: Mapped[str] = mapped_column(String(255), primary_key=True)
    # No foreign key: rows are only ever written with the ids just numbered, and
    # PostgreSQL's per-row check cost a tenth of the rebuild.
    test_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    runs: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)
    flaky: Mapped[int] = mapped_column(Integer)
    seconds: Mapped[float | None] = mapped_column(Float)
    timed: Mapped[int] = mapped_column(Integer)
    in_last: Mapped[int] = mapped_column(Integer)


class RollupState(Base):
    """What the rollups were computed from: one row, `name` = `ci`.

    Attributes:
        test_case_id: Highest test case id seen by the last refresh.
        build_id: Highest build id seen by the last refresh.
        test_case_tail: How many test cases had an id among the last `TAIL` ids up to
            `test_case_id` then; a later, larger count means rows committed late.
        build_tail: The same for builds.
        pending: Ids of builds that were still running (or finished without a finish
            time) when seen; checked on every refresh, since finishing changes no id.
    """

    __tablename__ = "rollup_state"
    natural_key = ("name",)

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    test_case_id: Mapped[int] = mapped_column(BigInteger)
    build_id: Mapped[int] = mapped_column(BigInteger)
    test_case_tail: Mapped[int] = mapped_column(BigInteger)
    build_tail: Mapped[int] = mapped_column(BigInteger)
    pending: Mapped[list[int]] = mapped_column(JSONValue)
    computed_at: Mapped[datetime]
