"""JUnit XML reports from a folder or glob -> builds and their test cases.

Each directory of reports is one build (its path relative to the scope's base; reports
lying directly in the base are one build each, named by file). A build is re-read when
any of its files is new or changed (size or modification time), so its status always
reflects all of its reports.

Parsing is defensive, because report files come from anywhere: defusedxml refuses DTDs,
entities and external references (billion-laughs, XXE), files over `MAX_REPORT_BYTES`
are refused, and a file that cannot be read is reported and skipped while the other
files carry on. Dialects (collectors.md §4.2): pytest, Maven Surefire (with
`flakyFailure`/`rerunFailure`), Gradle, jest-junit and gotestsum.

Outcomes and flakiness (collectors.md §4.3): a test with `flakyFailure`/`flakyError` and
no `failure` failed then passed on rerun, stored as failed attempts marked flaky followed
by a passing attempt; `failure` + `rerunFailure` are failed attempts, not flaky; the same
test appearing several times in one build (gotestsum `--rerun-fails`, Gradle without
`mergeReruns`) gives one attempt per appearance, and its failed attempts are flaky when
another attempt passed. Across builds of one collection, a test that failed on a sha and
passed on the same sha in another build is flaky too.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import parse as parse_xml

from collectors.spec import Batch, CollectorSpec, Cursor, Scope
from ingest.records import BuildRecord, TestCaseRecord

MAX_REPORT_BYTES = 50 * 1024 * 1024
MAX_MESSAGE_CHARS = 4096
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_SHA_PROPERTIES = ("sha", "git.sha", "git_sha", "commit", "GIT_COMMIT", "GITHUB_SHA")
_REPO_PROPERTIES = ("repo", "GITHUB_REPOSITORY")


@dataclass
class _Case:
    suite: str
    classname: str
    name: str
    outcome: str
    duration_s: float | None
    message: str | None
    flaky: bool = False


@dataclass
class Report:
    """What one report file holds: its test attempts, in order, and build properties."""

    cases: list[_Case]
    properties: dict[str, str]


def _clean(text: str | None) -> str | None:
    if not text:
        return None
    text = _ANSI.sub("", text).strip()
    return text[:MAX_MESSAGE_CHARS] or None


def _seconds(value: str | None) -> float | None:
    # Surefire allows thousands separators ("1,204.5"); empty or missing is unknown.
    if value is None or not value.strip():
        return None
    try:
        return max(0.0, float(value.replace(",", "")))
    except ValueError:
        return None


def _message(element: Element) -> str | None:
    # jest-junit puts the message in the text only; others in `message` (and the text).
    return _clean(element.get("message") or element.text)


def _case_attempts(case: Element, suite: str) -> list[_Case]:
    name = case.get("name") or ""
    classname = case.get("classname") or ""
    if not classname and "." in name:
        classname, name = name.rsplit(".", 1)  # the Jenkins junit plugin's fallback
    classname = classname or suite
    duration = _seconds(case.get("time"))
    children = {child.tag: child for child in reversed(list(case))}
    flaky = [child for child in case if child.tag in ("flakyFailure", "flakyError")]
    reruns = [child for child in case if child.tag in ("rerunFailure", "rerunError")]

    def attempt(outcome: str, element: Element | None, *, is_flaky: bool = False) -> _Case:
        message = _message(element) if element is not None else None
        return _Case(suite, classname, name, outcome, duration, message, is_flaky)

    failed = children.get("failure")
    errored = children.get("error")
    if failed is not None or errored is not None:
        first = attempt(
            "failed" if failed is not None else "error",
            failed if failed is not None else errored,
        )
        again = [attempt("failed" if e.tag == "rerunFailure" else "error", e) for e in reruns]
        return [first, *again]
    if flaky:
        earlier = [
            attempt("failed" if e.tag == "flakyFailure" else "error", e, is_flaky=True)
            for e in flaky
        ]
        return [*earlier, attempt("passed", None)]
    if "skipped" in children:
        return [attempt("skipped", children["skipped"])]
    return [attempt("passed", None)]


def parse_report(path: Path) -> Report:
    """Parse one JUnit XML file.

    Raises:
        ValueError: The file is refused or is not a JUnit report; the message says why.
    """
    size = path.stat().st_size
    if size > MAX_REPORT_BYTES:
        msg = f"{size:,} bytes is over the {MAX_REPORT_BYTES:,}-byte limit for a report"
        raise ValueError(msg)
    try:
        root = parse_xml(path, forbid_dtd=True).getroot()
    except DefusedXmlException as exc:
        msg = f"refused: {type(exc).__name__} (DTDs, entities and external references are not read)"
        raise ValueError(msg) from None
    except ParseError as exc:
        msg = f"not well-formed XML ({exc})"
        raise ValueError(msg) from None
    if root is None or root.tag not in ("testsuites", "testsuite"):
        tag = "nothing" if root is None else f"<{root.tag}>"
        msg = f"not a JUnit report (the root element is {tag})"
        raise ValueError(msg)
    cases: list[_Case] = []
    properties: dict[str, str] = {}

    def walk(suite: Element, inherited: str) -> None:
        name = suite.get("name") or inherited or path.stem
        for child in suite:
            if child.tag == "testsuite":
                walk(child, name)
            elif child.tag == "testcase":
                cases.extend(_case_attempts(child, name))
            elif child.tag == "properties":
                for prop in child:
                    if prop.get("name") and prop.get("value") is not None:
                        properties[str(prop.get("name"))] = str(prop.get("value"))

    walk(root, "" if root.tag == "testsuites" else root.get("name") or "")
    return Report(cases, properties)


def _numbered(cases: Sequence[_Case]) -> list[tuple[int, _Case]]:
    """Number each test's attempts and mark failures flaky when another attempt passed."""
    attempts: dict[tuple[str, str, str], list[_Case]] = {}
    for case in cases:
        attempts.setdefault((case.suite, case.classname, case.name), []).append(case)
    numbered = []
    for group in attempts.values():
        passed = any(case.outcome == "passed" for case in group)
        for index, case in enumerate(group, start=1):
            if passed and case.outcome in ("failed", "error"):
                case.flaky = True
            numbered.append((index, case))
    return numbered


def _base_and_pattern(scope: str) -> tuple[Path, str]:
    """Split a folder or glob into the fixed folder and the pattern below it."""
    path = Path(scope).expanduser()
    if path.is_dir():
        return path, "**/*.xml"
    parts = path.parts
    fixed = next((i for i, part in enumerate(parts) if glob.has_magic(part)), len(parts) - 1)
    return Path(*parts[:fixed]) if fixed else Path(), "/".join(parts[fixed:])


def _build_key(base: Path, path: Path) -> str:
    relative = path.relative_to(base)
    return relative.parent.as_posix() if relative.parent != Path() else relative.stem


def collect_junit(_client: Any, scope: Scope, cursor: Cursor | None) -> Iterator[Batch]:
    """Yield one batch per new or changed build of reports under `scope.name`.

    Cursor: `{"files": {relative path: "size:mtime_ns"}}`, saved with each build's rows.
    """
    seen: dict[str, str] = dict((cursor or {}).get("files") or {})
    base, pattern = _base_and_pattern(scope.name)
    groups: dict[str, list[Path]] = {}
    for path in sorted(base.glob(pattern)):
        if path.is_file():
            groups.setdefault(_build_key(base, path), []).append(path)
    outcomes_by_sha: dict[tuple[str, str, str, str], set[str]] = {}
    for build_id, paths in groups.items():
        stamps = {
            path.relative_to(base).as_posix(): f"{(st := path.stat()).st_size}:{st.st_mtime_ns}"
            for path in paths
        }
        if all(seen.get(relative) == stamp for relative, stamp in stamps.items()):
            continue
        seen.update(stamps)
        yield _build_batch(scope, build_id, paths, outcomes_by_sha, {"files": dict(seen)})


def _build_batch(
    scope: Scope,
    build_id: str,
    paths: list[Path],
    outcomes_by_sha: dict[tuple[str, str, str, str], set[str]],
    cursor: Cursor,
) -> Batch:
    problems: list[str] = []
    cases: list[_Case] = []
    properties: dict[str, str] = {}
    for path in paths:
        try:
            report = parse_report(path)
        except (ValueError, OSError) as exc:
            problems.append(f"{path}: {exc}")
            continue
        cases.extend(report.cases)
        properties.update(report.properties)
    if not cases and problems:
        return Batch(problems=problems, cursor=cursor)
    sha = next((properties[p] for p in _SHA_PROPERTIES if p in properties), None)
    repo = next((properties[p] for p in _REPO_PROPERTIES if p in properties), None)
    numbered = _numbered(cases)
    if sha:
        for _, case in numbered:
            outcomes = outcomes_by_sha.setdefault(
                (sha, case.suite, case.classname, case.name), set()
            )
            outcomes.add(case.outcome)
            if case.outcome in ("failed", "error") and "passed" in outcomes:
                case.flaky = True
    finished = datetime.fromtimestamp(max(path.stat().st_mtime for path in paths), UTC)
    failed = any(case.outcome in ("failed", "error") and not case.flaky for case in cases)
    build = BuildRecord.model_validate(
        {
            "type": "build",
            "source": scope.connection,
            "id": build_id,
            "repo": repo,
            "service": scope.service_for_repo(repo) if repo else None,
            "pipeline": scope.connection,
            "sha": sha,
            "status": "failure" if failed else "success",
            "status_raw": "junit",
            "finished_at": finished,
            "updated_at": finished,
        }
    )
    tests = [
        TestCaseRecord(
            type="test_case",
            source=scope.connection,
            build_id=build_id,
            suite=case.suite,
            classname=case.classname,
            name=case.name,
            attempt=attempt,
            outcome=case.outcome,  # type: ignore[arg-type]
            duration_s=case.duration_s,
            message=case.message,
            flaky=case.flaky,
        )
        for attempt, case in numbered
        if case.name
    ]
    return Batch([build, *tests], cursor=cursor, problems=problems)


SPECS = (
    CollectorSpec(
        "junit",
        "reports",
        "builds, test_cases",
        "JUnit XML reports (pytest, Surefire, Gradle, jest-junit, gotestsum), one build per folder",
        collect_junit,
    ),
)
