"""JUnit XML reports: every dialect, flaky detection, hostile and broken files."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from collectors.junit import parse_report
from collectors.runner import Runner
from models import Build, TestCase
from settings import Settings, SourceConfig
from tests.collectors.conftest import run_streams
from tests.conftest import FIXTURES

FIX = FIXTURES / "junit"


def reports(root: Path, layout: dict[str, list[str]]) -> Path:
    """Lay fixture files out as CI would: one folder per build."""
    for build, files in layout.items():
        (root / build).mkdir(parents=True, exist_ok=True)
        for name in files:
            shutil.copy(FIX / name, root / build / name)
    return root


def junit_settings(make_settings: Callable[..., Settings], scope: str) -> Settings:
    return make_settings(sources={"ci": SourceConfig(kind="junit", scopes=[scope])})


def cases(sessions: sessionmaker[Session]) -> dict[tuple[str, str, int], tuple[str, bool]]:
    with sessions() as session:
        rows = session.execute(
            select(
                Build.external_id, TestCase.name, TestCase.attempt, TestCase.outcome, TestCase.flaky
            ).join(Build, Build.id == TestCase.build_id)
        )
        return {
            (build, name, attempt): (outcome, flaky)
            for build, name, attempt, outcome, flaky in rows
        }


def test_every_dialect_becomes_test_attempts_with_flaky_marks(
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    root = reports(
        tmp_path,
        {
            "pytest": ["pytest.xml"],
            "surefire": ["surefire_reruns.xml"],
            "gradle": ["gradle_merged_reruns.xml"],
            "jest": ["jest_junit.xml"],
            "gotestsum": ["gotestsum_reruns.xml"],
        },
    )

    [result] = run_streams(make_runner(junit_settings(make_settings, str(root))))

    assert (result.status, result.skipped) == ("success", 0)
    assert cases(sessions) == {
        ("pytest", "test_ok", 1): ("passed", False),
        ("pytest", "test_fail[param-1]", 1): ("failed", False),
        ("pytest", "test_skip", 1): ("skipped", False),
        ("pytest", "test_xfail", 1): ("skipped", False),
        # Surefire: flakyFailure = failed then passed; failure + rerunFailure = failed twice
        ("surefire", "flaky", 1): ("failed", True),
        ("surefire", "flaky", 2): ("passed", False),
        ("surefire", "alwaysFails", 1): ("failed", False),
        ("surefire", "alwaysFails", 2): ("failed", False),
        ("surefire", "ok", 1): ("passed", False),
        # Gradle with mergeReruns: two failed tries, then the pass
        ("gradle", "backoffDoublesEachTime()", 1): ("failed", True),
        ("gradle", "backoffDoublesEachTime()", 2): ("error", True),
        ("gradle", "backoffDoublesEachTime()", 3): ("passed", False),
        ("gradle", "givesUpAfterFiveTries()", 1): ("passed", False),
        ("jest", "Cart adds item", 1): ("passed", False),
        ("jest", "Cart totals", 1): ("failed", False),
        ("jest", "Cart applies coupons", 1): ("skipped", False),
        # gotestsum --rerun-fails writes the test twice
        ("gotestsum", "TestRetry", 1): ("failed", True),
        ("gotestsum", "TestRetry", 2): ("passed", False),
        ("gotestsum", "TestOK", 1): ("passed", False),
        ("gotestsum", "TestOK/sub_case", 1): ("passed", False),
    }
    with sessions() as session:
        statuses = {b: s for b, s in session.execute(select(Build.external_id, Build.status))}
        jest = session.scalars(select(TestCase).where(TestCase.name == "Cart totals")).one()
        ok = session.scalars(select(TestCase).where(TestCase.name == "ok")).one()
    # A build with only flaky failures passed; one with a real failure failed.
    assert statuses == {
        "pytest": "failure",
        "surefire": "failure",
        "gradle": "success",
        "jest": "failure",
        "gotestsum": "success",
    }
    assert jest.message is not None and jest.message.startswith("Error: expect(received)")
    assert ok.duration_s == 1001.002  # Surefire's thousands separator


@pytest.mark.parametrize(
    ("hostile", "reason"),
    [
        pytest.param("entity_bomb.xml", "refused: DTDForbidden", id="billion-laughs"),
        pytest.param("external_entity.xml", "refused: DTDForbidden", id="external-entity"),
        pytest.param("not_junit.xml", "not a JUnit report (the root element is <html>)", id="html"),
        pytest.param("truncated.xml", "not well-formed XML (no element found", id="truncated"),
    ],
)
def test_a_bad_file_is_skipped_and_reported_while_the_rest_is_stored(
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
    hostile: str,
    reason: str,
) -> None:
    root = reports(tmp_path, {"build-7": [hostile, "pytest.xml"]})

    [result] = run_streams(make_runner(junit_settings(make_settings, str(root))))

    assert (result.status, result.skipped) == ("success", 1)
    [problem] = result.problems
    assert problem.startswith(f"{root / 'build-7' / hostile}: {reason}")
    assert len(cases(sessions)) == 4  # pytest.xml, beside it, is stored


def test_unchanged_reports_are_read_once_and_a_changed_build_is_read_again(
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    root = reports(tmp_path, {"b1": ["pytest.xml"], "b2": ["jest_junit.xml"]})
    settings = junit_settings(make_settings, f"{root}/*/*.xml")
    [first] = run_streams(make_runner(settings))
    [second] = run_streams(make_runner(settings))
    shutil.copy(FIX / "gotestsum_reruns.xml", root / "b2" / "go.xml")

    [third] = run_streams(make_runner(settings))

    assert (first.rows, second.rows) == (9, 0)
    assert third.rows == 1 + 3 + 4  # build b2 again: its build row and both files' cases
    assert len(cases(sessions)) == 7 + 4


def test_a_test_failing_and_passing_on_the_same_sha_in_two_builds_is_flaky(
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    root = reports(
        tmp_path, {"run-1": ["pytest_on_sha_pass.xml"], "run-2": ["pytest_on_sha_fail.xml"]}
    )

    run_streams(make_runner(junit_settings(make_settings, str(root))))

    assert cases(sessions) == {
        ("run-1", "test_network", 1): ("passed", False),
        ("run-2", "test_network", 1): ("failed", True),
    }
    with sessions() as session:
        build = session.scalars(select(Build).where(Build.external_id == "run-2")).one()
    assert (build.sha, build.repo, build.status) == (
        "3484a3fb816e0859fd6e1cea078d76385ff50625",
        "octo-org/octo-repo",
        "success",
    )


def test_an_oversized_report_is_refused_before_parsing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = tmp_path / "big.xml"
    shutil.copy(FIX / "pytest.xml", report)
    monkeypatch.setattr("collectors.junit.MAX_REPORT_BYTES", report.stat().st_size - 1)

    with pytest.raises(ValueError, match=r"bytes is over the .*-byte limit for a report"):
        parse_report(report)
