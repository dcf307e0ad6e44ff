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

One query reads the window's builds (a few columns); one grouped pass over their test
cases gives the per-test numbers; the other reads touch only the builds a table lists.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from fnmatch import fnmatchcase

import numpy as np
from sqlalchemy import ColumnElement, case, func, select, tuple_
from sqlalchemy.orm import Session

from models import Build, TestCase

FINISHED = ("success", "failure")
FAILED_OUTCOMES = ("failed", "error")
OTHER_KIND = "other"
TOP = 15


@dataclass(frozen=True)
class BuildScope:
    """Which builds to look at.

    Attributes:
        since: Inclusive start (UTC).
        until: Exclusive end.
        services: Only these services' builds; None for all.
        boundaries: Trend bucket boundaries (n + 1 times for n buckets) within the window.
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
    """Everything the Builds & tests page shows."""

    pipelines: tuple[PipelineHealth, ...]
    pipeline_trend: tuple[PipelinePoint, ...]
    most_failing: tuple[TestStats, ...]
    flaky: tuple[FlakyTest, ...]
    regressions: tuple[Regression, ...]
    slowest: tuple[TestStats, ...]
    kinds: tuple[KindCount, ...]
    kind_names: tuple[str, ...] = field(default=())

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


def _build_conditions(scope: BuildScope) -> list[ColumnElement[bool]]:
    clauses = [
        Build.finished_at >= scope.since,
        Build.finished_at < scope.until,
        Build.status.in_(FINISHED),
    ]
    if scope.services is not None:
        clauses.append(Build.service.in_(scope.services))
    return clauses


def _percentiles(minutes: list[float]) -> tuple[float | None, float | None]:
    if not minutes:
        return None, None
    values = np.asarray(minutes)
    return float(np.median(values)), float(np.percentile(values, 90))


@dataclass(frozen=True)
class _Run:
    """One finished build in the window, as the pipeline, regression and kind views need it."""

    id: int
    bucket: int
    branch_key: tuple[str | None, ...]
    pipeline_key: tuple[str, str]
    succeeded: bool
    minutes: float | None
    finished_at: datetime


def _runs(session: Session, scope: BuildScope) -> list[_Run]:
    """Every finished build of the window, oldest first (one query, a few columns)."""
    rows = session.execute(
        select(
            Build.id,
            Build.repo,
            Build.service,
            Build.pipeline,
            Build.branch,
            Build.status,
            Build.started_at,
            Build.finished_at,
        )
        .where(*_build_conditions(scope))
        .order_by(Build.finished_at, Build.id)
    )
    ends = scope.boundaries[1:]
    runs = []
    for build_id, repo, service, pipeline, branch, status, started_at, finished_at in rows:
        if finished_at is None:  # excluded by the query; narrows the type
            continue
        runs.append(
            _Run(
                build_id,
                min(bisect.bisect_right(ends, finished_at), len(ends) - 1),
                (repo, service, pipeline, branch),
                (service or "(no service)", pipeline or "(no pipeline)"),
                status == "success",
                (finished_at - started_at).total_seconds() / 60 if started_at else None,
                finished_at,
            )
        )
    return runs


def _health(key: tuple[str, str], runs: Sequence[_Run]) -> PipelineHealth:
    p50, p90 = _percentiles([run.minutes for run in runs if run.minutes is not None])
    return PipelineHealth(*key, len(runs), sum(run.succeeded for run in runs), p50, p90)


def _pipelines(
    runs: Sequence[_Run], boundaries: Sequence[datetime]
) -> tuple[list[PipelineHealth], list[PipelinePoint]]:
    overall: dict[tuple[str, str], list[_Run]] = defaultdict(list)
    by_bucket: dict[tuple[int, tuple[str, str]], list[_Run]] = defaultdict(list)
    for run in runs:
        overall[run.pipeline_key].append(run)
        by_bucket[run.bucket, run.pipeline_key].append(run)
    pipelines = sorted(
        (_health(key, group) for key, group in overall.items()), key=lambda p: (-p.builds, p.name)
    )
    trend = [
        PipelinePoint(boundaries[index], _health(key, group))
        for (index, key), group in sorted(by_bucket.items())
    ]
    return pipelines, trend


def _tests(
    session: Session, scope: BuildScope, patterns: Mapping[str, Sequence[str]]
) -> list[TestStats]:
    """Per test over the window's builds: one grouped pass over their test cases."""
    statement = (
        select(
            TestCase.suite,
            TestCase.classname,
            TestCase.name,
            func.sum(case((TestCase.attempt == 1, 1), else_=0)),
            func.sum(case((TestCase.outcome.in_(FAILED_OUTCOMES), 1), else_=0)),
            func.sum(case((TestCase.flaky, 1), else_=0)),
            func.sum(TestCase.duration_s),
            func.count(TestCase.duration_s),
        )
        .join(Build, Build.id == TestCase.build_id)
        .where(*_build_conditions(scope), TestCase.outcome != "skipped")
        .group_by(TestCase.suite, TestCase.classname, TestCase.name)
    )
    kinds: dict[tuple[str, str], str] = {}
    stats = []
    for suite, classname, name, builds, failed, flakes, seconds, timed in session.execute(
        statement
    ):
        if (suite, classname) not in kinds:
            kinds[suite, classname] = classify_test(suite, classname, patterns)
        flakes = int(flakes or 0)
        stats.append(
            TestStats(
                suite,
                classname,
                name,
                kinds[suite, classname],
                int(builds or 0),
                # Each flaky pass rescued one failed attempt of its build.
                int(failed or 0) - flakes,
                flakes,
                float(seconds) / timed if timed else None,
            )
        )
    return stats


def _kinds(
    session: Session,
    runs: Sequence[_Run],
    boundaries: Sequence[datetime],
    patterns: Mapping[str, Sequence[str]],
) -> list[KindCount]:
    """Tests per kind in each bucket's suites: the last build of every pipeline in the bucket."""
    last: dict[tuple[int, tuple[str, str]], int] = {}
    for run in runs:  # oldest first, so the last one written wins
        last[run.bucket, run.pipeline_key] = run.id
    bucket_of = {build_id: bucket for (bucket, _), build_id in last.items()}
    tests: dict[tuple[int, str], set[tuple[str, str, str]]] = defaultdict(set)
    ids = list(bucket_of)
    # Chunked to stay under the databases' limits on bound parameters.
    for start in range(0, len(ids), 500):
        rows = session.execute(
            select(TestCase.build_id, TestCase.suite, TestCase.classname, TestCase.name).where(
                TestCase.build_id.in_(ids[start : start + 500]),
                TestCase.attempt == 1,
                TestCase.outcome != "skipped",
            )
        )
        for build_id, suite, classname, name in rows:
            kind = classify_test(suite, classname, patterns)
            tests[bucket_of[build_id], kind].add((suite, classname, name))
    return [
        KindCount(boundaries[index], kind, len(names))
        for (index, kind), names in sorted(tests.items())
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


def _flaky(
    session: Session, scope: BuildScope, runs: Sequence[_Run], tests: list[TestStats]
) -> list[FlakyTest]:
    flaky = sorted((t for t in tests if t.flakes), key=lambda t: (-t.flakes, t.label))[:TOP]
    if not flaky:
        return []
    keys = [(t.suite, t.classname, t.name) for t in flaky]
    window = {run.id: run.finished_at for run in runs}
    flips: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    # One joined query: per-chunk `build_id IN (...)` lists made PostgreSQL slow here.
    rows = session.execute(
        select(TestCase.suite, TestCase.classname, TestCase.name, TestCase.build_id)
        .join(Build, Build.id == TestCase.build_id)
        .where(
            *_build_conditions(scope),
            TestCase.flaky,
            tuple_(TestCase.suite, TestCase.classname, TestCase.name).in_(keys),
        )
    )
    for suite, classname, name, build_id in rows:
        if build_id in window:
            flips[suite, classname, name].append(build_id)
    # The five latest flips per test are enough to open and compare.
    latest = {
        key: sorted(builds, key=lambda b: (window[b], b), reverse=True)[:5]
        for key, builds in flips.items()
    }
    refs = _refs(session, [build for builds in latest.values() for build in builds])
    return [
        FlakyTest(
            t, tuple(refs[b] for b in latest.get((t.suite, t.classname, t.name), []) if b in refs)
        )
        for t in flaky
    ]


def _regressions(session: Session, scope: BuildScope, runs: Sequence[_Run]) -> list[Regression]:
    branches: dict[tuple[str | None, ...], list[_Run]] = defaultdict(list)
    for run in runs:
        branches[run.branch_key].append(run)
    pairs = {
        history[-1].id: history[-2].id
        for history in branches.values()
        if len(history) >= 2 and not history[-1].succeeded
    }
    if not pairs:
        return []
    outcomes = _final_outcomes(session, [*pairs, *pairs.values()])
    refs = _refs(session, [*pairs, *pairs.values()])
    regressions = []
    for latest, previous in pairs.items():
        before = outcomes.get(previous, {})
        for test, (outcome, message) in sorted(outcomes.get(latest, {}).items()):
            if outcome == "failed" and before.get(test, ("", None))[0] == "passed":
                regressions.append(Regression(test, refs[latest], refs[previous], message))
    return sorted(regressions, key=lambda r: r.build.finished_at or scope.since, reverse=True)


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

    Args:
        session: An open session.
        scope: The window, services and trend buckets.
        patterns: Test kind -> glob patterns (the `test_suite_types` setting).
    """
    runs = _runs(session, scope)
    pipelines, trend = _pipelines(runs, scope.boundaries)
    tests = _tests(session, scope, patterns)
    failing = sorted((t for t in tests if t.failures), key=lambda t: (-t.failures, t.label))
    timed = [t for t in tests if t.mean_seconds is not None]
    slowest = sorted(timed, key=lambda t: (-(t.mean_seconds or 0.0), t.label))
    return BuildHealth(
        pipelines=tuple(pipelines),
        pipeline_trend=tuple(trend),
        most_failing=tuple(failing[:TOP]),
        flaky=tuple(_flaky(session, scope, runs, tests)),
        regressions=tuple(_regressions(session, scope, runs)[: TOP * 2]),
        slowest=tuple(slowest[:TOP]),
        kinds=tuple(_kinds(session, runs, scope.boundaries, patterns)),
        kind_names=(*patterns, OTHER_KIND),
    )
