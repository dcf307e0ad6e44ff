"""Keeping the Builds & tests rollups current: finished builds and test cases per UTC day.

The rollup tables (`models.rollups`) hold, per UTC day of the build's `finished_at`,
service and pipeline, what the Builds & tests page needs: build counts and every
duration (`build_rollups`) and per-test attempt counts (`test_rollups`). The page's
windows and trend buckets are whole UTC days, so sums over days give exactly the
numbers the raw rows give (durations are summed per day first, so a mean can differ from
a single raw sum in the last bits of a float).

`refresh` is incremental and cheap when nothing changed: a state row keeps the highest
test case and build ids seen, the ids of builds that were still running, and (on
PostgreSQL) how many rows the last `TAIL` ids held. Each refresh reads the two maximum
ids, those two counts and the running builds, all by primary key. New test cases, new
finished builds and running builds that finished pick the (service, day) groups to
recompute; each group is recomputed whole from its raw rows (test cases in one grouped
INSERT ... SELECT), in the caller's transaction (the caller commits). The first refresh
of a database builds everything, as `rebuild` does.

What the watermark cannot see, and only `rebuild` (or a later change in the same service
and day) picks up:

- an in-place correction of a stored test case (a re-import with another outcome or
  duration changes no id);
- a finished build changed in place: a re-run reported under the same id with a new
  status or finish time (the day it finished on before keeps counting it), or a build
  moved to another service;
- deleted builds or test cases;
- on PostgreSQL, rows committed below the watermark after a refresh (ids are handed out
  before commit, so a concurrent writer can commit lower ids later): the tail counts
  catch those within the last `TAIL` ids of either table, not further down. (SQLite
  writers take turns, so its ids are committed in order.)

Concurrent refreshes on PostgreSQL are serialised by an advisory lock per schema, taken
only when there is work; the second refresh then finds nothing left to do.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    and_,
    case,
    cast,
    delete,
    false,
    func,
    insert,
    or_,
    select,
    text,
    true,
    type_coerce,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import InstrumentedAttribute, Session

from models import Build, BuildRollup, RollupState, RollupTest, TestCase, TestRollup
from models.rollups import pack_minutes

FINISHED = ("success", "failure")
FAILED_OUTCOMES = ("failed", "error")
RUNNING = "running"
BLANK = ""  # stands for "no service" / "no pipeline" in the rollups' keys
STATE = "ci"
TAIL = 20_000
"""Trailing ids of each table recounted on every refresh (see the module docstring)."""

# One PostgreSQL advisory lock per schema serialises refreshes across processes (arbitrary
# constant, distinct from the DORA tables' lock; paired with the schema like theirs).
_REFRESH_LOCK = 0x0F11_7E57
# Services per statement when recomputing: fewer statements, bounded memory.
_BATCH = 20


@dataclass(frozen=True)
class RollupReport:
    """What a refresh or rebuild did.

    Attributes:
        groups: (service, day) groups recomputed.
        rebuilt: Everything was recomputed from scratch.
    """

    groups: int = 0
    rebuilt: bool = False


@dataclass(frozen=True)
class _State:
    test_case_id: int
    build_id: int
    test_case_tail: int
    build_tail: int
    pending: tuple[int, ...]


@dataclass
class _Changes:
    """The groups to recompute, and the state to store afterwards."""

    state: _State
    groups: dict[str, set[date]] = field(default_factory=lambda: defaultdict(set))

    @property
    def count(self) -> int:
        return sum(len(days) for days in self.groups.values())


def refresh(session: Session) -> RollupReport:
    """Bring the rollups up to date with the stored builds and test cases.

    Runs in the caller's transaction; the caller commits. Safe to call before every read:
    when nothing changed it costs a handful of index lookups.

    Args:
        session: An open session on the database.

    Returns:
        How many (service, day) groups were recomputed, or that everything was.
    """
    stored = _stored(session)
    if stored is None:
        _lock(session)
        stored = _stored(session)  # another process may have built them while we waited
        if stored is None:
            return _rebuild(session)
    changes = _changes(session, stored)
    if changes is None:
        return rebuild(session)
    if not changes.groups and changes.state == stored:
        return RollupReport()
    if _lock(session):
        again = _stored(session)
        if again != stored:  # another process refreshed while we waited
            if again is None:
                return _rebuild(session)
            changes = _changes(session, again)
            if changes is None:
                return _rebuild(session)
            if not changes.groups and changes.state == again:
                return RollupReport()
    _recompute(session, changes.groups)
    _remember(session, changes.state)
    return RollupReport(changes.count)


def rebuild(session: Session) -> RollupReport:
    """Recompute every rollup row from the raw builds and test cases.

    For after in-place corrections, deletions or anything else the incremental refresh
    cannot see (module docstring). Runs in the caller's transaction; the caller commits.

    Args:
        session: An open session on the database.

    Returns:
        A report with `rebuilt` set and the number of (service, day) groups written.
    """
    _lock(session)
    return _rebuild(session)


def _rebuild(session: Session) -> RollupReport:
    # The marks are read first: rows arriving meanwhile are then recomputed again by the
    # next refresh (harmless), never skipped.
    test_case_id, build_id = _tops(session)
    state = _State(
        test_case_id,
        build_id,
        _tail(session, TestCase.id, test_case_id),
        _tail(session, Build.id, build_id),
        tuple(session.scalars(select(Build.id).where(_open()).order_by(Build.id))),
    )
    for model in (TestRollup, BuildRollup, RollupTest, RollupState):
        session.execute(delete(model).execution_options(synchronize_session=False))
    services = [service or BLANK for service in session.scalars(select(Build.service).distinct())]
    written = _recompute(session, dict.fromkeys(sorted(services)), fresh=True)
    _remember(session, state)
    return RollupReport(written, rebuilt=True)


def _lock(session: Session) -> bool:
    """Take the refresh lock on PostgreSQL (until the transaction ends); False elsewhere."""
    if session.get_bind().dialect.name != "postgresql":
        return False
    session.execute(
        text("SELECT pg_advisory_xact_lock(:key, hashtext(current_schema()))"),
        {"key": _REFRESH_LOCK},
    )
    return True


def _stored(session: Session) -> _State | None:
    row = session.execute(
        select(
            RollupState.test_case_id,
            RollupState.build_id,
            RollupState.test_case_tail,
            RollupState.build_tail,
            RollupState.pending,
        ).where(RollupState.name == STATE)
    ).one_or_none()
    if row is None:
        return None
    return _State(row[0], row[1], row[2], row[3], tuple(row[4]))


def _remember(session: Session, state: _State) -> None:
    values = {
        "test_case_id": state.test_case_id,
        "build_id": state.build_id,
        "test_case_tail": state.test_case_tail,
        "build_tail": state.build_tail,
        "pending": list(state.pending),
        "computed_at": datetime.now(UTC),
    }
    session.execute(delete(RollupState).where(RollupState.name == STATE))
    session.execute(insert(RollupState).values(name=STATE, **values))


def _tops(session: Session) -> tuple[int, int]:
    """The highest test case and build ids (0 for an empty table): two primary-key seeks."""
    test_case_id = session.scalar(select(func.max(TestCase.id))) or 0
    build_id = session.scalar(select(func.max(Build.id))) or 0
    return test_case_id, build_id


def _tail(session: Session, column: InstrumentedAttribute[int], top: int) -> int:
    """Rows among the `TAIL` ids up to `top` (a primary-key range count); 0 on SQLite.

    SQLite writers take turns (a transaction holds the write lock from its first insert
    to its commit), so ids are committed in order there and nothing can arrive late.
    """
    if session.get_bind().dialect.name != "postgresql":
        return 0
    statement = select(func.count()).where(column > top - TAIL, column <= top)
    return session.scalar(statement) or 0


def _open() -> ColumnElement[bool]:
    """Builds that may still finish: running, or finished without a finish time yet."""
    return or_(
        Build.status == RUNNING, and_(Build.status.in_(FINISHED), Build.finished_at.is_(None))
    )


def _changes(session: Session, stored: _State) -> _Changes | None:
    """What changed since `stored` (read only); None when only a rebuild can tell."""
    test_case_id, build_id = _tops(session)
    if test_case_id < stored.test_case_id or build_id < stored.build_id:
        return None  # rows were deleted: the watermarks mean nothing any more
    # Rows committed late among the last ids show up as a larger count: scan those again.
    test_cases_from, builds_from = stored.test_case_id, stored.build_id
    test_case_tail = _tail(session, TestCase.id, stored.test_case_id)
    build_tail = _tail(session, Build.id, stored.build_id)
    if test_case_tail != stored.test_case_tail:
        test_cases_from -= TAIL
    if build_tail != stored.build_tail:
        builds_from -= TAIL
    changes = _Changes(stored)
    pending: set[int] = set()
    seen = select(Build.id, Build.service, Build.status, Build.finished_at)
    statements = [seen.where(Build.id > builds_from, Build.id <= build_id)]
    if stored.pending:  # running builds finish in place: their ids say nothing
        statements.append(seen.where(Build.id.in_(stored.pending)))
    for statement in statements:
        for build, service, status, finished_at in session.execute(statement):
            if status in FINISHED and finished_at is not None:
                changes.groups[service or BLANK].add(finished_at.astimezone(UTC).date())
            elif status == RUNNING or status in FINISHED:
                pending.add(build)
    if test_case_id > test_cases_from:
        day = type_coerce(_day(session, Build.finished_at), Date)
        touched = (
            select(Build.service, day)
            .distinct()
            .join(TestCase, TestCase.build_id == Build.id)
            .where(
                TestCase.id > test_cases_from,
                TestCase.id <= test_case_id,
                Build.status.in_(FINISHED),
                Build.finished_at.is_not(None),
            )
        )
        for service, touched_day in session.execute(touched):
            changes.groups[service or BLANK].add(touched_day)
    if test_case_id != stored.test_case_id:
        test_case_tail = _tail(session, TestCase.id, test_case_id)
    if build_id != stored.build_id:
        build_tail = _tail(session, Build.id, build_id)
    changes.state = _State(
        test_case_id, build_id, test_case_tail, build_tail, tuple(sorted(pending))
    )
    return changes


def _day(session: Session, column: InstrumentedAttribute[datetime | None]) -> Any:
    """The UTC date of a stored time, in SQL, in the form a `Date` column stores it."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    return func.date(column)  # SQLite keeps UTC text; date() gives the `YYYY-MM-DD` it stores


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def day_ranges(days: Iterable[date]) -> list[tuple[date, date]]:
    """Collapse days into `[first, after_last)` runs of consecutive days."""
    ranges: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if ranges and ranges[-1][1] == day:
            ranges[-1] = (ranges[-1][0], day + timedelta(days=1))
        else:
            ranges.append((day, day + timedelta(days=1)))
    return ranges


def equals(column: InstrumentedAttribute[Any], value: object) -> ColumnElement[bool]:
    """`column = value`, or `column IS NULL` for None (both can use an index)."""
    return column.is_(None) if value is None else column == value


def _build_groups(
    groups: Mapping[str, set[date] | None],
) -> ColumnElement[bool]:
    """Builds of the groups: per service, its days (None: every day)."""
    whole = [service for service, days in groups.items() if days is None]
    clauses: list[ColumnElement[bool]] = []
    if named := [service for service in whole if service != BLANK]:
        clauses.append(Build.service.in_(named))
    if BLANK in whole:
        clauses.append(Build.service.is_(None))
    for service, days in groups.items():
        if days is not None:
            during = (
                and_(Build.finished_at >= _midnight(a), Build.finished_at < _midnight(b))
                for a, b in day_ranges(days)
            )
            clauses.append(and_(equals(Build.service, service or None), or_(*during)))
    return or_(*clauses) if clauses else false()


def _rollup_groups(
    model: type[BuildRollup] | type[TestRollup], groups: Mapping[str, set[date] | None]
) -> ColumnElement[bool]:
    clauses: list[ColumnElement[bool]] = []
    for service, days in groups.items():
        clause: ColumnElement[bool] = model.service == service
        if days is not None:
            clause = and_(
                clause, or_(*(and_(model.day >= a, model.day < b) for a, b in day_ranges(days)))
            )
        clauses.append(clause)
    return or_(*clauses) if clauses else false()


def _batches(
    groups: Mapping[str, set[date] | None],
) -> Iterator[dict[str, set[date] | None]]:
    names = sorted(groups)
    for start in range(0, len(names), _BATCH):
        yield {name: groups[name] for name in names[start : start + _BATCH]}


def _recompute(
    session: Session, groups: Mapping[str, set[date] | None], *, fresh: bool = False
) -> int:
    """Recompute the rollup rows of the groups from raw rows; the number of days written.

    Args:
        session: An open session.
        groups: Service (`""` for none) -> its days to recompute (None: all of them).
        fresh: The rollup tables are empty and every group is asked for (a rebuild).
    """
    written = 0
    for batch in _batches(groups):
        if not fresh:
            for model in (TestRollup, BuildRollup):
                session.execute(
                    delete(model)
                    .where(_rollup_groups(model, batch))
                    .execution_options(synchronize_session=False)
                )
        rows = _build_rows(session, _build_groups(batch))
        if rows:
            session.execute(insert(BuildRollup), rows)
            if not fresh:
                _insert_tests(session, _build_groups(batch))
                _insert_test_rows(session, _build_groups(batch))
        written += len({(row["service"], row["day"]) for row in rows})
    if fresh:
        # One statement over everything: the databases then hash-join whole tables, where
        # per-batch statements probe the indexes row by row (several times slower).
        postgres = session.get_bind().dialect.name == "postgresql"
        _insert_tests(session, true())
        if postgres:
            # Statistics only, no data: right after a bulk import (or for the tables just
            # filled) PostgreSQL has none yet, takes every table for a few rows and
            # nests loops over millions of test cases (100 s instead of 15 at medium).
            session.execute(text("ANALYZE builds, test_cases, build_rollups, rollup_tests"))
        _insert_test_rows(session, true())
        if postgres:
            # And for the pages' reads, which otherwise sort the whole test rollup.
            session.execute(text("ANALYZE test_rollups"))
    return written


def _build_rows(session: Session, groups: ColumnElement[bool]) -> list[dict[str, Any]]:
    """The build rollup rows of the groups, computed in Python (durations exactly as before)."""
    statement = select(
        Build.id,
        Build.service,
        Build.pipeline,
        Build.status,
        Build.started_at,
        Build.finished_at,
    ).where(groups, Build.status.in_(FINISHED), Build.finished_at.is_not(None))
    rows: dict[tuple[date, str, str], dict[str, Any]] = {}
    last: dict[tuple[date, str, str], tuple[datetime, int]] = {}
    for build, service, pipeline, status, started_at, finished_at in session.execute(statement):
        if finished_at is None:  # excluded by the query; narrows the type
            continue
        key = (finished_at.astimezone(UTC).date(), service or BLANK, pipeline or BLANK)
        row = rows.get(key)
        if row is None:
            row = rows[key] = {
                "day": key[0],
                "service": key[1],
                "pipeline": key[2],
                "builds": 0,
                "succeeded": 0,
                "minutes": [],
                "last_build_id": build,
            }
        row["builds"] += 1
        row["succeeded"] += status == "success"
        if started_at is not None:
            row["minutes"].append((finished_at - started_at).total_seconds() / 60)
        if key not in last or (finished_at, build) > last[key]:
            last[key] = (finished_at, build)
            row["last_build_id"] = build
    for row in rows.values():
        row["minutes"] = pack_minutes(row["minutes"])
    return list(rows.values())


def _insert_tests(session: Session, groups: ColumnElement[bool]) -> None:
    """Number the tests of the groups' builds that have no number yet."""
    names = (
        select(TestCase.suite, TestCase.classname, TestCase.name)
        .distinct()
        .join(Build, Build.id == TestCase.build_id)
        .where(
            groups,
            Build.status.in_(FINISHED),
            Build.finished_at.is_not(None),
            TestCase.outcome != "skipped",
        )
    )
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(RollupTest)
        .from_select(["suite", "classname", "name"], names)
        .on_conflict_do_nothing(index_elements=["suite", "classname", "name"])
    )
    session.execute(statement)


def _insert_test_rows(session: Session, groups: ColumnElement[bool]) -> None:
    """One grouped INSERT ... SELECT over the groups' test cases (build rollups must exist)."""

    def count(condition: ColumnElement[bool] | InstrumentedAttribute[bool]) -> ColumnElement[int]:
        return func.sum(case((condition, 1), else_=0))

    day = _day(session, Build.finished_at)
    totals = (
        select(
            BuildRollup.day,
            BuildRollup.service,
            BuildRollup.pipeline,
            RollupTest.id,
            count(TestCase.attempt == 1),
            count(TestCase.outcome.in_(FAILED_OUTCOMES)),
            count(TestCase.flaky),
            func.sum(TestCase.duration_s),
            func.count(TestCase.duration_s),
            count(and_(TestCase.build_id == BuildRollup.last_build_id, TestCase.attempt == 1)),
        )
        .select_from(Build)
        .join(
            BuildRollup,
            and_(
                BuildRollup.day == day,
                BuildRollup.service == func.coalesce(Build.service, BLANK),
                BuildRollup.pipeline == func.coalesce(Build.pipeline, BLANK),
            ),
        )
        .join(TestCase, TestCase.build_id == Build.id)
        .join(
            RollupTest,
            and_(
                RollupTest.suite == TestCase.suite,
                RollupTest.classname == TestCase.classname,
                RollupTest.name == TestCase.name,
            ),
        )
        .where(
            groups,
            Build.status.in_(FINISHED),
            Build.finished_at.is_not(None),
            TestCase.outcome != "skipped",
        )
        .group_by(BuildRollup.day, BuildRollup.service, BuildRollup.pipeline, RollupTest.id)
    )
    columns: Sequence[str] = (
        "day",
        "service",
        "pipeline",
        "test_id",
        "runs",
        "failed",
        "flaky",
        "seconds",
        "timed",
        "in_last",
    )
    session.execute(insert(TestRollup).from_select(list(columns), totals))
