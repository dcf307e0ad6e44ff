"""Build health on recorded CI history: pipelines; failing, flaky, regressed, slow tests; kinds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session, sessionmaker

from ingest.ndjson import import_files
from metrics.summary import Period, bucket_boundaries
from reports.build_health import BuildHealth, BuildScope, build_health, classify_test
from settings import Settings
from tests.conftest import FIXTURES

SINCE, UNTIL = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 8, tzinfo=UTC)
PATTERNS = Settings().test_suite_types


def health(sessions: sessionmaker[Session], services: tuple[str, ...] | None = None) -> BuildHealth:
    import_files(sessions, [FIXTURES / "ndjson" / "build_health.ndjson"])
    boundaries = tuple(bucket_boundaries(SINCE, UNTIL, Period.week))
    with sessions() as session:
        return build_health(session, BuildScope(SINCE, UNTIL, services, boundaries), PATTERNS)


def test_pipelines_count_finished_builds_with_their_duration_percentiles(
    sessions: sessionmaker[Session],
) -> None:
    found = {p.name: p for p in health(sessions).pipelines}

    api = found["api · ci"]
    assert (api.builds, api.succeeded) == (3, 2)  # the cancelled build says nothing
    assert api.success_rate == pytest.approx(2 / 3)
    assert api.p50_minutes == pytest.approx(10.0)
    assert api.p90_minutes == pytest.approx(18.0)  # 10 + 0.8 * (20 - 10)
    assert found["web · ci"].builds == 1
    assert found["web · ci"].p90_minutes == pytest.approx(30.0)


def test_a_test_that_passed_on_retry_is_flaky_not_failing(sessions: sessionmaker[Session]) -> None:
    result = health(sessions)

    assert [(t.name, t.failures, t.builds) for t in result.most_failing] == [("test_add", 1, 3)]
    assert [(f.test.name, f.test.flakes) for f in result.flaky] == [("test_login", 1)]
    assert [b.external_id for b in result.flaky[0].builds] == ["b1"]


def test_a_test_failing_after_passing_on_the_previous_build_of_its_branch_is_a_regression(
    sessions: sessionmaker[Session],
) -> None:
    regressions = health(sessions).regressions

    assert [(r.test, r.build.external_id, r.previous.external_id) for r in regressions] == [
        ("tests/unit/test_math.py::TestMath::test_add", "b2", "b1")
    ]
    assert regressions[0].message == "AssertionError: 1 != 2"


def test_slowest_tests_and_kinds_by_pattern(sessions: sessionmaker[Session]) -> None:
    result = health(sessions)

    assert [(t.name, round(t.mean_seconds or 0, 2)) for t in result.slowest[:2]] == [
        ("test_render", 5.0),
        ("test_login", 3.1),
    ]
    kinds = {k.kind: k.tests for k in result.kinds}
    # The suites as of each pipeline's last build: b3 (test_query skipped there) and b5,
    # whose BrowserSuite class makes it end-to-end.
    assert kinds == {"unit": 1, "end-to-end": 1}
    assert result.kind_names == ("end-to-end", "integration", "unit", "other")


def test_a_service_filter_keeps_only_its_builds(sessions: sessionmaker[Session]) -> None:
    result = health(sessions, services=("web",))

    assert [p.name for p in result.pipelines] == ["web · ci"]
    assert result.most_failing == () and result.regressions == ()


def test_an_unmatched_test_is_other_and_the_first_matching_kind_wins() -> None:
    patterns = {"end-to-end": ["*e2e*"], "unit": ["*test*"]}

    assert classify_test("tests/E2E/test_x.py", "TestX", patterns) == "end-to-end"
    assert classify_test("tests/unit/test_x.py", "TestX", patterns) == "unit"
    assert classify_test("spec/x.js", "X", patterns) == "other"
