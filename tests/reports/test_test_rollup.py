"""Builds & tests rollups: kept current as builds and test cases arrive, equal to a rebuild."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime

import numpy as np
import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from ingest.ndjson import import_files
from ingest.records import BuildRecord, TestCaseRecord
from ingest.writer import RecordWriter
from metrics.summary import Period, bucket_boundaries
from models import BuildRollup, RollupTest, TestRollup
from models.rollups import unpack_minutes
from reports.build_health import (
    BuildHealth,
    BuildScope,
    build_health,
    duration_percentiles,
    services_in_environment,
)
from reports.test_rollup import RollupReport, rebuild, refresh
from settings import Settings
from tests.conftest import FIXTURES

NDJSON = FIXTURES / "ndjson"
PATTERNS = Settings().test_suite_types
MARCH = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 8, tzinfo=UTC))


def load(sessions: sessionmaker[Session], *names: str) -> None:
    import_files(sessions, [NDJSON / name for name in names])


def health(
    sessions: sessionmaker[Session],
    window: tuple[datetime, datetime] = MARCH,
    services: tuple[str, ...] | None = None,
) -> BuildHealth:
    since, until = window
    scope = BuildScope(since, until, services, tuple(bucket_boundaries(since, until, Period.week)))
    with sessions.begin() as session:  # committed: the refresh's work is kept
        return build_health(session, scope, PATTERNS)


def pipeline_builds(result: BuildHealth) -> dict[str, tuple[int, int]]:
    return {p.name: (p.builds, p.succeeded) for p in result.pipelines}


def rollup_rows(sessions: sessionmaker[Session]) -> tuple[list[tuple[object, ...]], ...]:
    """Every rollup row, by test name rather than number (a rebuild renumbers the tests)."""
    with sessions() as session:
        builds = [
            (
                row.day,
                row.service,
                row.pipeline,
                row.builds,
                row.succeeded,
                row.last_build_id,
                *sorted(unpack_minutes(row.minutes)),
            )
            for row in session.scalars(select(BuildRollup))
        ]
        tests = [
            (
                *row[:3],
                *row[3:6],
                row.runs,
                row.failed,
                row.flaky,
                None if row.seconds is None else pytest.approx(row.seconds),
                row.timed,
                row.in_last,
            )
            for row in session.execute(
                select(
                    TestRollup.day,
                    TestRollup.service,
                    TestRollup.pipeline,
                    RollupTest.suite,
                    RollupTest.classname,
                    RollupTest.name,
                    TestRollup.runs,
                    TestRollup.failed,
                    TestRollup.flaky,
                    TestRollup.seconds,
                    TestRollup.timed,
                    TestRollup.in_last,
                ).join(RollupTest, RollupTest.id == TestRollup.test_id)
            )
        ]
    return sorted(builds), sorted(tests, key=lambda row: tuple(map(str, row[:6])))


def test_builds_and_test_cases_arriving_after_a_refresh_are_counted(
    sessions: sessionmaker[Session],
) -> None:
    load(sessions, "build_health.ndjson")
    assert pipeline_builds(health(sessions)) == {"api · ci": (3, 2), "web · ci": (1, 1)}

    load(sessions, "build_health_later.ndjson")  # b6 fails; b5 gets a late test case
    result = health(sessions)

    assert pipeline_builds(result) == {"api · ci": (4, 2), "web · ci": (1, 1)}  # b7 runs
    failing = {t.name: (t.failures, t.builds) for t in result.most_failing}
    assert failing == {"test_add": (1, 4), "test_query": (1, 3), "test_checkout": (1, 1)}
    # b2 is no longer main's latest build; b6 is, and fails what passed in b2.
    pairs = [(r.test, r.build.external_id, r.previous.external_id) for r in result.regressions]
    assert pairs == [("tests/integration/test_db.py::TestDb::test_query", "b6", "b2")]


def test_a_running_build_that_finishes_is_picked_up(sessions: sessionmaker[Session]) -> None:
    load(sessions, "build_health.ndjson", "build_health_later.ndjson")
    assert pipeline_builds(health(sessions))["web · ci"] == (1, 1)

    load(sessions, "build_health_finished.ndjson")  # b7 finishes in place: no new id
    result = health(sessions)

    web = next(p for p in result.pipelines if p.name == "web · ci")
    assert (web.builds, web.succeeded) == (2, 2)
    assert web.p90_minutes == pytest.approx(39.0)  # 30 + 0.9 * (40 - 30)
    assert {t.name: t.builds for t in result.slowest}["test_render"] == 2


def test_a_refresh_with_nothing_new_changes_nothing(sessions: sessionmaker[Session]) -> None:
    load(sessions, "build_health.ndjson", "build_health_later.ndjson")
    with sessions.begin() as session:
        assert refresh(session).rebuilt
    before = rollup_rows(sessions)

    with sessions.begin() as session:
        assert refresh(session) == RollupReport()

    assert rollup_rows(sessions) == before


def test_the_rebuild_equals_the_incremental_refreshes(sessions: sessionmaker[Session]) -> None:
    for name in (
        "build_health.ndjson",
        "build_health_later.ndjson",
        "build_health_finished.ndjson",
        "build_health_midnight.ndjson",
    ):
        load(sessions, name)
        with sessions.begin() as session:
            refresh(session)
    incremental = rollup_rows(sessions)

    with sessions.begin() as session:
        report = rebuild(session)

    assert report.rebuilt
    assert report.groups == len({(row[0], row[1]) for row in incremental[0]})
    assert rollup_rows(sessions) == incremental


def test_days_are_utc_days_and_the_window_edges_are_exact(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        refresh(session)  # of the empty database: the next one is incremental
    load(sessions, "build_health_midnight.ndjson")
    with sessions.begin() as session:
        if session.get_bind().dialect.name == "postgresql":
            # The day of a time must not depend on the session's time zone.
            session.execute(text("SET LOCAL TIME ZONE 'Pacific/Kiritimati'"))
        assert refresh(session).groups == 2

    # m1 finishes a microsecond before midnight, m3 at 01:30 +02:00 (23:30 UTC the day
    # before): both on 4 March; m2 finishes at midnight exactly, on 5 March.
    fourth = health(sessions, (datetime(2026, 3, 4, tzinfo=UTC), datetime(2026, 3, 5, tzinfo=UTC)))
    fifth = health(sessions, (datetime(2026, 3, 5, tzinfo=UTC), datetime(2026, 3, 6, tzinfo=UTC)))

    assert pipeline_builds(fourth) == {"api · ci": (2, 2)}
    assert [(t.builds, t.failures, t.mean_seconds) for t in fourth.slowest] == [(2, 0, 2.5)]
    assert pipeline_builds(fifth) == {"api · ci": (1, 0)}
    assert [(t.builds, t.failures, t.mean_seconds) for t in fifth.slowest] == [(1, 1, 2.0)]
    assert [(k.start, k.tests) for k in fifth.kinds] == [(datetime(2026, 3, 5, tzinfo=UTC), 1)]


def test_a_window_that_does_not_start_at_midnight_is_refused(
    sessions: sessionmaker[Session],
) -> None:
    with pytest.raises(ValueError, match="whole UTC days"):
        health(sessions, (datetime(2026, 3, 1, 12, tzinfo=UTC), MARCH[1]))


def _build(build_id: str, finished: str) -> list[BuildRecord | TestCaseRecord]:
    return [
        BuildRecord(
            type="build",
            source="ci",
            id=build_id,
            service="api",
            pipeline="ci",
            branch="main",
            status="success",
            started_at=datetime.fromisoformat("2026-03-02T10:00:00Z"),
            finished_at=datetime.fromisoformat(finished),
        ),
        TestCaseRecord(
            type="test_case",
            source="ci",
            build_id=build_id,
            suite="tests/unit/test_math.py",
            classname="TestMath",
            name="test_add",
            outcome="passed",
            duration_s=1.0,
        ),
    ]


def test_rows_committed_below_the_watermark_after_a_refresh_are_counted(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        if session.get_bind().dialect.name != "postgresql":
            pytest.skip("SQLite writers take turns, so ids are committed in order")
    with sessions.begin() as session:
        refresh(session)
    slow = sessions()
    writer = RecordWriter(slow)
    for record in _build("early", "2026-03-02T10:10:00Z"):
        writer.add(record)
    writer.flush()  # ids taken, not committed yet
    with sessions.begin() as session:
        fast = RecordWriter(session)
        for record in _build("late", "2026-03-02T10:20:00Z"):
            fast.add(record)
        fast.flush()
    assert pipeline_builds(health(sessions)) == {"api · ci": (1, 1)}

    slow.commit()  # lower ids than the refresh's watermark
    slow.close()

    result = health(sessions)
    assert pipeline_builds(result) == {"api · ci": (2, 2)}
    assert [(t.name, t.builds) for t in result.slowest] == [("test_add", 2)]


def test_duration_percentiles_are_numpys_to_the_last_bit() -> None:
    generator = random.Random(6)
    for size in [*range(1, 60), 101, 1000]:
        minutes = [generator.uniform(0.1, 90.0) for _ in range(size)]

        p50, p90 = duration_percentiles(minutes)

        assert p50 == float(np.median(minutes))
        assert p90 == float(np.percentile(minutes, 90))
    assert duration_percentiles([]) == (None, None)


def test_an_environment_keeps_the_services_that_run_there(
    sessions: sessionmaker[Session],
) -> None:
    load(sessions, "build_health.ndjson", "environments.ndjson")
    catalog = {"api": ["staging", "production"], "batch": ["eu-west"]}

    with sessions() as session:
        found = {
            name: services_in_environment(session, name, catalog)
            for name in ("staging", "production", "eu-west", "qa")
        }

    # web is not in the catalog: it runs where it deployed ("Production", any case).
    assert found == {
        "staging": ("api",),
        "production": ("api", "web"),
        "eu-west": ("batch",),
        "qa": (),
    }
    assert pipeline_builds(health(sessions, services=found["staging"])) == {"api · ci": (3, 2)}


def test_a_refresh_waiting_for_a_concurrent_one_finds_nothing_left_to_do(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        if session.get_bind().dialect.name != "postgresql":
            pytest.skip("SQLite writers take turns; the lock is PostgreSQL's")
    with sessions.begin() as session:
        refresh(session)
    load(sessions, "build_health.ndjson")
    first = sessions()
    assert refresh(first).groups == 2  # holds the refresh lock until it commits
    reports: list[RollupReport] = []
    waiting = threading.Thread(target=lambda: reports.append(_refresh_committed(sessions)))
    waiting.start()
    waiting.join(timeout=1)
    assert waiting.is_alive(), "the second refresh waits for the first one's lock"

    first.commit()
    first.close()
    waiting.join(timeout=30)

    assert reports == [RollupReport()]
    assert pipeline_builds(health(sessions)) == {"api · ci": (3, 2), "web · ci": (1, 1)}


def _refresh_committed(sessions: sessionmaker[Session]) -> RollupReport:
    with sessions.begin() as session:
        return refresh(session)
