"""The health of builds and tests over a window: pipelines, failing, flaky, regressed, slow tests.

Builds count by `finished_at` in `[since, until)`; only finished builds (`success` or
`failure`) take part: a cancelled or running build says nothing about the code. A test
*flaked* in a build when an attempt failed and a later one passed (the `flaky` mark the
collectors set on that pass); its *failures* are its failed attempts that no retry
rescued (failed attempts less flaky passes). A *regression* is a test that failed in the
latest build of a branch (per repository, service and pipeline) after passing in the
build before it. Test kinds (unit, integration, end-to-end...) come from glob patterns on
the test's suite path or class name, checked in the configured order; the count per kind
in a trend bucket is the size of the suites then: the distinct tests of the last build of
every pipeline in that bucket.

Windows and trend buckets are whole UTC days (the dashboard's are), so the numbers come
from the per-day rollups (`reports.test_rollup`, refreshed first) rather than from raw
rows: pipelines and their exact duration percentiles from the build rollup, the per-test
numbers and suites by kind from the test rollup. Raw rows are read only where a table
points at builds: the latest flips of the flaky tests (on the days the rollup says they
flipped) and the regressions, found walking back from the window's last day until the
table is full.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from fnmatch import fnmatchcase
from typing import Any

from sqlalchemy import ColumnElement, LargeBinary, Subquery, and_, case, func, literal, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from models import Build, BuildRollup, Deployment, RollupTest, TestCase, TestRollup
from models.rollups import unpack_minutes
from reports.test_rollup import BLANK, FAILED_OUTCOMES, FINISHED, equals, refresh

OTHER_KIND = "other"
TOP = 15
FLIPS = 5  # latest flips listed per flaky test


@dataclass(frozen=True)
class BuildScope:
    """Which builds to look at: whole UTC days (the rollups' grain).

    Attributes:
        since: Inclusive start, a UTC midnight.
        until: Exclusive end, a UTC midnight.
        services: Only these services' builds; None for all.
        boundaries: Trend bucket boundaries (n + 1 UTC midnights for n buckets) within the
            window, as `metrics.summary.bucket_boundaries` gives for a whole-day window.
    """

    since: datetime
    until: datetime
    services: tuple[str, ...] | None
    boundaries: tuple[datetime, ...]


@dataclass(frozen=True)
class PipelineHealth:
    """One pipeline (service and pipeline name) over the window or one bucket."""

    service: str
    pipeline: str
    builds: int
    succeeded: int
    p50_minutes: float | None
    p90_minutes: float | None

    @property
    def success_rate(self) -> float | None:
        """Succeeded / finished builds; None without builds."""
        return self.succeeded / self.builds if self.builds else None

    @property
    def name(self) -> str:
        """`service · pipeline`, as charts label it."""
        return f"{self.service} · {self.pipeline}"


@dataclass(frozen=True)
class PipelinePoint:
    """A pipeline's health in one trend bucket."""

    start: datetime
    health: PipelineHealth


@dataclass(frozen=True)
class TestStats:
    """One test (suite, class, name) over the window.

    Attributes:
        builds: Builds that ran it.
        failures: Failed attempts no retry rescued (about the builds it failed).
        flakes: Builds where it failed and then passed on a retry.
        mean_seconds: Mean duration over its attempts (None when never timed).
    """

    suite: str
    classname: str
    name: str
    kind: str
    builds: int
    failures: int
    flakes: int
    mean_seconds: float | None

    @property
    def label(self) -> str:
        """`suite::Class::name`, as tables show it."""
        return f"{self.suite}::{self.classname}::{self.name}"


@dataclass(frozen=True)
class BuildRef:
    """A build a table points at."""

    external_id: str
    service: str | None
    pipeline: str | None
    branch: str | None
    sha: str | None
    finished_at: datetime | None
    url: str | None


@dataclass(frozen=True)
class FlakyTest:
    """A test that flaked, and the builds where it flipped from failing to passing."""

    test: TestStats
    builds: tuple[BuildRef, ...]


@dataclass(frozen=True)
class Regression:
    """A test that passed in a branch's previous build and fails in its latest."""

    test: str
    build: BuildRef
    previous: BuildRef
    message: str | None


@dataclass(frozen=True)
class KindCount:
    """Distinct tests of one kind that ran in one trend bucket."""

    start: datetime
    kind: str
    tests: int


@dataclass(frozen=True)
class BuildHealth:
    """Everything the Builds & tests page shows.

    Attributes:
        services: The services the builds were limited to (None: every service).
    """

    pipelines: tuple[PipelineHealth, ...]
    pipeline_trend: tuple[PipelinePoint, ...]
    most_failing: tuple[TestStats, ...]
    flaky: tuple[FlakyTest, ...]
    regressions: tuple[Regression, ...]
    slowest: tuple[TestStats, ...]
    kinds: tuple[KindCount, ...]
    kind_names: tuple[str, ...] = field(default=())
    services: tuple[str, ...] | None = None

    @property
    def is_empty(self) -> bool:
        """True when no finished build is in the window."""
        return not self.pipelines


def classify_test(suite: str, classname: str, patterns: Mapping[str, Sequence[str]]) -> str:
    """The first kind one of whose glob patterns matches the suite path or class name.

    Matching ignores case; a test no pattern matches is `other`.
    """
    candidates = (suite.lower(), classname.lower())
    for kind, globs in patterns.items():
        if any(fnmatchcase(text, glob.lower()) for glob in globs for text in candidates):
            return kind
    return OTHER_KIND


def services_in_environment(
    session: Session, environment: str, catalog: Mapping[str, Sequence[str]]
) -> tuple[str, ...]:
    """The services that run in `environment`, which is what the environment filter keeps.

    Builds have no environment of their own. A service runs in an environment when its
    catalog entry lists it (`services.<name>.environments`) or, for a service the catalog
    does not describe, when it has deployed there. Names compare ignoring letter case, as
    the DORA engine compares environments.

    Args:
        session: An open session.
        environment: The environment chosen.
        catalog: Service name -> its configured environments.
    """
    wanted = environment.strip().lower()
    listed = {
        name
        for name, environments in catalog.items()
        if wanted in {known.lower() for known in environments}
    }
    deployed = session.scalars(
        select(Deployment.service).distinct().where(func.lower(Deployment.environment) == wanted)
    )
    return tuple(sorted(listed | {name for name in deployed if name not in catalog}))


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _day_of(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def _check_whole_days(scope: BuildScope) -> None:
    """The rollups are per UTC day, so a window or bucket must start and end at midnight."""
    for moment in (scope.since, scope.until, *scope.boundaries):
        if moment.astimezone(UTC).time() != time():
            msg = f"build health reads whole UTC days; {moment.isoformat()} is not a UTC midnight"
            raise ValueError(msg)


def _in_window(
    model: type[BuildRollup] | type[TestRollup], scope: BuildScope
) -> list[ColumnElement[bool]]:
    clauses = [model.day >= _day_of(scope.since), model.day < _day_of(scope.until)]
    if scope.services is not None:
        clauses.append(model.service.in_(scope.services))
    return clauses


def _in_services(services: set[str]) -> ColumnElement[bool]:
    """Builds of these rollup services (`""` is a build without a service)."""
    named = Build.service.in_(sorted(services - {BLANK}))
    return named if BLANK not in services else (named | Build.service.is_(None))


def duration_percentiles(minutes: Sequence[float]) -> tuple[float | None, float | None]:
    """The median and 90th percentile, exactly as `numpy.median` and `numpy.percentile` give.

    Computed in Python on the sorted values with numpy's own arithmetic (the mean of the
    two middle values; the default "linear" interpolation), because a page has thousands
    of (bucket, pipeline) groups and numpy's per-call overhead was most of its time.

    Returns:
        (p50, p90), or (None, None) without values.
    """
    if not minutes:
        return None, None
    ordered = sorted(minutes)
    middle, odd = divmod(len(ordered), 2)
    median = ordered[middle] if odd else (ordered[middle - 1] + ordered[middle]) / 2
    return median, _linear_quantile(ordered, 0.9)


def _linear_quantile(ordered: Sequence[float], quantile: float) -> float:
    """The "linear" quantile of sorted values, as numpy computes it (see its `_lerp`)."""
    position = (len(ordered) - 1) * quantile
    if position >= len(ordered) - 1:
        return ordered[-1]
    below = math.floor(position)
    low, high = ordered[below], ordered[below + 1]
    gamma = position - below
    step = high - low
    # numpy interpolates from the nearer end, which decides the result's last bit.
    return high - step * (1 - gamma) if gamma >= 0.5 else low + step * gamma


@dataclass
class _Tally:
    """Builds of one pipeline, over the window or a bucket, added up from rollup days."""

    builds: int = 0
    succeeded: int = 0
    minutes: list[float] = field(default_factory=list)

    def health(self, key: tuple[str, str]) -> PipelineHealth:
        p50, p90 = duration_percentiles(self.minutes)
        return PipelineHealth(*key, self.builds, self.succeeded, p50, p90)


def _bucket(scope: BuildScope) -> ColumnElement[int]:
    """The trend bucket of a rollup day (buckets start at midnights, so whole days fit)."""
    ends = scope.boundaries[1:]
    return case(
        *((BuildRollup.day < _day_of(end), index) for index, end in enumerate(ends)),
        else_=len(ends) - 1,
    )


def _rollup_days(scope: BuildScope, *columns: InstrumentedAttribute[Any]) -> Subquery:
    """The build rollup's days in the window: bucket, service, pipeline and `columns`."""
    return (
        select(_bucket(scope).label("bucket"), BuildRollup.service, BuildRollup.pipeline, *columns)
        .where(*_in_window(BuildRollup, scope))
        .subquery()
    )


def _pipelines(
    session: Session, scope: BuildScope
) -> tuple[list[PipelineHealth], list[PipelinePoint]]:
    """Per pipeline over the window and per bucket, from the build rollup.

    The days are added up in SQL per bucket and pipeline, their packed durations
    concatenated, so Python sees one row per point of the trend rather than one per day.
    """
    postgres = session.get_bind().dialect.name == "postgresql"
    days = _rollup_days(scope, BuildRollup.builds, BuildRollup.succeeded, BuildRollup.minutes)
    # Bytes concatenate as bytes on PostgreSQL; SQLite's group_concat makes text, so hex.
    minutes = (
        func.string_agg(days.c.minutes, literal(b"", LargeBinary()))
        if postgres
        else func.group_concat(func.hex(days.c.minutes), "")
    )
    # Grouped outside the CASE: PostgreSQL does not see two copies of a CASE with bound
    # parameters as the same expression.
    rows = session.connection().execute(
        select(
            days.c.bucket,
            days.c.service,
            days.c.pipeline,
            func.sum(days.c.builds),
            func.sum(days.c.succeeded),
            minutes,
        ).group_by(days.c.bucket, days.c.service, days.c.pipeline)
    )
    overall: dict[tuple[str, str], _Tally] = defaultdict(_Tally)
    by_bucket: dict[tuple[int, tuple[str, str]], _Tally] = {}
    for bucket, service, pipeline, builds, succeeded, packed in rows:
        key = (service or "(no service)", pipeline or "(no pipeline)")
        values = unpack_minutes(bytes(packed) if postgres else bytes.fromhex(packed))
        point = by_bucket[bucket, key] = _Tally(int(builds), int(succeeded), list(values))
        whole = overall[key]
        whole.builds += point.builds
        whole.succeeded += point.succeeded
        whole.minutes.extend(values)
    pipelines = sorted(
        (tally.health(key) for key, tally in overall.items()), key=lambda p: (-p.builds, p.name)
    )
    trend = [
        PipelinePoint(scope.boundaries[index], tally.health(key))
        for (index, key), tally in sorted(by_bucket.items())
    ]
    return pipelines, trend


def _services_between(session: Session, scope: BuildScope, first: date, end: date) -> set[str]:
    """The services with finished builds in `[first, end)` (`""`: builds without one).

    Naming them lets the databases read the builds through their (service, finished_at)
    index.
    """
    statement = (
        select(BuildRollup.service)
        .distinct()
        .where(BuildRollup.day >= first, BuildRollup.day < end)
    )
    if scope.services is not None:
        statement = statement.where(BuildRollup.service.in_(scope.services))
    return set(session.scalars(statement))


def _tests(
    session: Session, scope: BuildScope, patterns: Mapping[str, Sequence[str]]
) -> dict[int, TestStats]:
    """Per test over the window, by rollup test id: one grouped pass over the test rollup."""
    totals = (
        select(
            TestRollup.test_id,
            func.sum(TestRollup.runs).label("runs"),
            func.sum(TestRollup.failed).label("failed"),
            func.sum(TestRollup.flaky).label("flaky"),
            func.sum(TestRollup.seconds).label("seconds"),
            func.sum(TestRollup.timed).label("timed"),
        )
        .where(*_in_window(TestRollup, scope))
        .group_by(TestRollup.test_id)
        .subquery()
    )
    statement = select(
        RollupTest.id,
        RollupTest.suite,
        RollupTest.classname,
        RollupTest.name,
        totals.c.runs,
        totals.c.failed,
        totals.c.flaky,
        totals.c.seconds,
        totals.c.timed,
    ).join(totals, totals.c.test_id == RollupTest.id)
    kinds: dict[tuple[str, str], str] = {}
    stats = {}
    for (
        test_id,
        suite,
        classname,
        name,
        runs,
        failed,
        flakes,
        seconds,
        timed,
    ) in session.connection().execute(statement):
        if (suite, classname) not in kinds:
            kinds[suite, classname] = classify_test(suite, classname, patterns)
        flakes = int(flakes or 0)
        stats[test_id] = TestStats(
            suite,
            classname,
            name,
            kinds[suite, classname],
            int(runs or 0),
            # Each flaky pass rescued one failed attempt of its build.
            int(failed or 0) - flakes,
            flakes,
            float(seconds) / timed if timed else None,
        )
    return stats


def _kinds(session: Session, scope: BuildScope, tests: Mapping[int, TestStats]) -> list[KindCount]:
    """Tests per kind in each bucket's suites: the last build of every pipeline in the bucket.

    A pipeline's last build in a bucket is the last build of its latest day there, whose
    tests the test rollup marks (`in_last`).
    """
    days = _rollup_days(scope, BuildRollup.day)
    last = (
        select(days.c.bucket, days.c.service, days.c.pipeline, func.max(days.c.day).label("day"))
        .group_by(days.c.bucket, days.c.service, days.c.pipeline)
        .subquery()
    )
    statement = (
        select(last.c.bucket, TestRollup.test_id)
        .distinct()
        .select_from(last)
        .join(
            TestRollup,
            and_(
                TestRollup.day == last.c.day,
                TestRollup.service == last.c.service,
                TestRollup.pipeline == last.c.pipeline,
            ),
        )
        .where(TestRollup.in_last > 0)
    )
    names: dict[tuple[int, str], set[int]] = defaultdict(set)
    for index, test_id in session.connection().execute(statement):
        test = tests.get(test_id)
        if test is not None:
            names[index, test.kind].add(test_id)
    return [
        KindCount(scope.boundaries[index], kind, len(ids))
        for (index, kind), ids in sorted(names.items())
    ]


def _refs(session: Session, build_ids: Sequence[int]) -> dict[int, BuildRef]:
    if not build_ids:
        return {}
    rows = session.scalars(select(Build).where(Build.id.in_(list(build_ids))))
    return {
        build.id: BuildRef(
            build.external_id,
            build.service,
            build.pipeline,
            build.branch,
            build.sha,
            build.finished_at,
            build.url,
        )
        for build in rows
    }


def _flip_days(days: Sequence[tuple[date, str, int]]) -> tuple[date, set[str]]:
    """The newest days holding at least `FLIPS` flips (all if fewer), and their services.

    Args:
        days: (day, service, flips) rows of one test, newest day first.
    """
    flips, services = 0, set()
    cutoff = days[0][0]
    for day, service, count in days:
        if day != cutoff and flips >= FLIPS:
            break  # the older days cannot hold any of the latest flips
        cutoff = day
        flips += count
        services.add(service)
    return cutoff, services


def _flaky(session: Session, scope: BuildScope, tests: Mapping[int, TestStats]) -> list[FlakyTest]:
    """The most flaky tests, each with the builds of its latest flips (newest first)."""
    flaky = sorted(
        ((test_id, t) for test_id, t in tests.items() if t.flakes),
        key=lambda item: (-item[1].flakes, item[1].label),
    )[:TOP]
    if not flaky:
        return []
    days: dict[int, list[tuple[date, str, int]]] = defaultdict(list)
    for test_id, day, service, count in session.execute(
        select(TestRollup.test_id, TestRollup.day, TestRollup.service, TestRollup.flaky)
        .where(
            TestRollup.test_id.in_([test_id for test_id, _ in flaky]),
            TestRollup.flaky > 0,
            *_in_window(TestRollup, scope),
        )
        .order_by(TestRollup.day.desc())
    ):
        days[test_id].append((day, service, count))
    latest: dict[int, list[int]] = {}
    for test_id, test in flaky:
        cutoff, services = _flip_days(days[test_id])
        # Only the days that hold the latest flips are read raw, through the builds' index.
        rows = session.execute(
            select(TestCase.build_id, Build.finished_at)
            .join(Build, Build.id == TestCase.build_id)
            .where(
                Build.status.in_(FINISHED),
                Build.finished_at >= _midnight(cutoff),
                Build.finished_at < scope.until,
                _in_services(services),
                TestCase.suite == test.suite,
                TestCase.classname == test.classname,
                TestCase.name == test.name,
                TestCase.flaky,
                TestCase.outcome != "skipped",
            )
        ).all()
        newest = sorted(rows, key=lambda row: (row[1], row[0]), reverse=True)[:FLIPS]
        latest[test_id] = [build for build, _ in newest]
    refs = _refs(session, [build for builds in latest.values() for build in builds])
    return [
        FlakyTest(test, tuple(refs[b] for b in latest[test_id] if b in refs))
        for test_id, test in flaky
    ]


BranchKey = tuple[str | None, str | None, str | None, str | None]
"""A branch's builds: (repo, service, pipeline, branch)."""


@dataclass(frozen=True)
class _Found:
    """A regression before its builds are looked up."""

    finished_at: datetime
    latest: int
    previous: int
    test: str
    message: str | None


def _regressions(session: Session, scope: BuildScope, limit: int) -> list[Regression]:
    """The `limit` newest regressions, walking back from the window's end.

    Each branch's latest build in the window is the first one met walking back; when it
    failed, the branch's next older build in the window is the one to compare with. The
    walk reads the builds a stretch of days at a time, one day first and twice as many
    each time after (a busy organisation fills the table from its last day; one quiet
    service needs a few reads for the whole window), and stops once the days read hold
    `limit` regressions: the older days can only add older ones. Newest build first, then
    by test.
    """
    seen: set[BranchKey] = set()
    awaiting: dict[BranchKey, tuple[int, datetime]] = {}  # failed latest builds, no previous yet
    found: list[_Found] = []
    first, end = _day_of(scope.since), _day_of(scope.until)
    width = 1
    while end > first and len(found) < limit:
        start, width = max(first, end - timedelta(days=width)), width * 2
        services = _services_between(session, scope, start, end)
        stretch = (_midnight(start), _midnight(end))
        end = start
        if not services:
            continue
        rows = session.execute(
            select(
                Build.id,
                Build.repo,
                Build.service,
                Build.pipeline,
                Build.branch,
                Build.status,
                Build.finished_at,
            )
            .where(
                Build.status.in_(FINISHED),
                Build.finished_at >= stretch[0],
                Build.finished_at < stretch[1],
                _in_services(services),
            )
            .order_by(Build.finished_at.desc(), Build.id.desc())
        )
        pairs: dict[int, tuple[int, datetime]] = {}
        for build, repo, service, pipeline, branch, status, finished_at in rows:
            if finished_at is None:  # excluded by the query; narrows the type
                continue
            key = (repo, service, pipeline, branch)
            if key not in seen:
                seen.add(key)
                if status != "success":
                    awaiting[key] = (build, finished_at)
            elif key in awaiting:
                latest, at = awaiting.pop(key)
                pairs[latest] = (build, at)
        if len(found) + len(pairs) >= limit:
            # Enough candidates: look the remaining ones' previous builds up directly.
            for key, (latest, at) in awaiting.items():
                previous = _previous_build(session, scope, key, at)
                if previous is not None:
                    pairs[latest] = (previous, at)
            awaiting.clear()
        found += _failed_after_passing(session, pairs)
    found.sort(key=lambda f: f.test)
    found.sort(key=lambda f: (f.finished_at, f.latest), reverse=True)
    found = found[:limit]
    refs = _refs(session, sorted({f.latest for f in found} | {f.previous for f in found}))
    return [Regression(f.test, refs[f.latest], refs[f.previous], f.message) for f in found]


def _previous_build(
    session: Session, scope: BuildScope, key: BranchKey, before: datetime
) -> int | None:
    """The branch's latest finished build in the window before `before` (its own day's too)."""
    repo, service, pipeline, branch = key
    return session.scalar(
        select(Build.id)
        .where(
            Build.status.in_(FINISHED),
            Build.finished_at >= scope.since,
            Build.finished_at < before,
            equals(Build.service, service),
            equals(Build.repo, repo),
            equals(Build.pipeline, pipeline),
            equals(Build.branch, branch),
        )
        .order_by(Build.finished_at.desc(), Build.id.desc())
        .limit(1)
    )


def _failed_after_passing(
    session: Session, pairs: Mapping[int, tuple[int, datetime]]
) -> list[_Found]:
    """Tests failing in each latest build that passed in its previous one."""
    if not pairs:
        return []
    outcomes = _final_outcomes(session, [*pairs, *(previous for previous, _ in pairs.values())])
    found = []
    for latest, (previous, at) in pairs.items():
        before = outcomes.get(previous, {})
        for test, (outcome, message) in outcomes.get(latest, {}).items():
            if outcome == "failed" and before.get(test, ("", None))[0] == "passed":
                found.append(_Found(at, latest, previous, test, message))
    return found


def _final_outcomes(
    session: Session, build_ids: Sequence[int]
) -> dict[int, dict[str, tuple[str, str | None]]]:
    """Per build, each test's last word: `passed` if any attempt passed, else `failed`."""
    outcomes: dict[int, dict[str, tuple[str, str | None]]] = defaultdict(dict)
    # Chunked to stay under the databases' limits on bound parameters.
    for start in range(0, len(build_ids), 500):
        rows = session.execute(
            select(
                TestCase.build_id,
                TestCase.suite,
                TestCase.classname,
                TestCase.name,
                TestCase.outcome,
                TestCase.message,
            )
            .where(TestCase.build_id.in_(build_ids[start : start + 500]))
            .order_by(TestCase.attempt)
        )
        for build_id, suite, classname, name, outcome, message in rows:
            test = f"{suite}::{classname}::{name}"
            known = outcomes[build_id].get(test)
            if outcome == "passed" or (known and known[0] == "passed"):
                outcomes[build_id][test] = ("passed", None)
            elif outcome in FAILED_OUTCOMES:
                outcomes[build_id][test] = ("failed", message)
    return outcomes


def build_health(
    session: Session, scope: BuildScope, patterns: Mapping[str, Sequence[str]]
) -> BuildHealth:
    """Pipelines, failing, flaky, regressed and slowest tests and test counts by kind.

    Brings the rollups up to date first (`reports.test_rollup.refresh`), in the session's
    transaction: commit it to keep that work.

    Args:
        session: An open session.
        scope: The window, services and trend buckets, in whole UTC days.
        patterns: Test kind -> glob patterns (the `test_suite_types` setting).

    Raises:
        ValueError: The window or a bucket does not start and end at a UTC midnight.
    """
    _check_whole_days(scope)
    refresh(session)
    pipelines, trend = _pipelines(session, scope)
    tests = _tests(session, scope, patterns)
    stats = list(tests.values())
    failing = sorted((t for t in stats if t.failures), key=lambda t: (-t.failures, t.label))
    timed = [t for t in stats if t.mean_seconds is not None]
    slowest = sorted(timed, key=lambda t: (-(t.mean_seconds or 0.0), t.label))
    return BuildHealth(
        pipelines=tuple(pipelines),
        pipeline_trend=tuple(trend),
        most_failing=tuple(failing[:TOP]),
        flaky=tuple(_flaky(session, scope, tests)),
        regressions=tuple(_regressions(session, scope, TOP * 2)),
        slowest=tuple(slowest[:TOP]),
        kinds=tuple(_kinds(session, scope, tests)),
        kind_names=(*patterns, OTHER_KIND),
        services=scope.services,
    )
