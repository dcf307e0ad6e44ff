"""Jenkins collector: builds of jobs, folders and multibranch projects -> builds + test cases.

Cursor per job: the highest finalized build number (`last`) and the numbers still building
(`open`, re-polled by number until they finish). Each run pages `allBuilds{a,b}` from the
newest down to `last` (the first run: down to the backfill horizon). A job whose newest
number is below `last` was recreated: it is read again from the start.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from collectors.spec import Batch, CollectorSpec, Cursor, Scope, lagged
from errors import BadSourceResponse
from ingest.records import BuildRecord, Record, TestCaseRecord
from integrations.jenkins import JenkinsClient

_RESULTS = {
    "SUCCESS": "success",
    "UNSTABLE": "failure",
    "FAILURE": "failure",
    "ABORTED": "cancelled",
    "NOT_BUILT": "skipped",
}
# FIXED and REGRESSION describe changes between builds, not flakiness (junit-plugin).
_CASE_OUTCOMES = {
    "PASSED": "passed",
    "FIXED": "passed",
    "FAILED": "failed",
    "REGRESSION": "failed",
    "SKIPPED": "skipped",
}
_FOLDERS = ("Folder", "MultiBranchProject", "OrganizationFolder")


def _ms(value: Any) -> datetime | None:
    return None if value in (None, 0) else datetime.fromtimestamp(int(value) / 1000, UTC)


def build_records(
    path: str, build: dict[str, Any], report: dict[str, Any] | None, scope: Scope
) -> list[Record]:
    """A Jenkins build (its detail) as a build record, and its report's test cases."""
    building = bool(build.get("building"))
    result = build.get("result")
    started = _ms(build.get("timestamp"))
    finished = None
    if not building and started is not None:
        finished = started + timedelta(milliseconds=int(build.get("duration") or 0))
    revision: dict[str, Any] = next(
        (
            action["lastBuiltRevision"]
            for action in build.get("actions") or ()
            if isinstance(action, dict) and action.get("lastBuiltRevision")
        ),
        {},
    )
    branches = revision.get("branch") or []
    branch = branches[0]["name"].removeprefix("refs/remotes/origin/") if branches else None
    build_id = f"{path}#{build['number']}"
    records: list[Record] = [
        BuildRecord.model_validate(
            {
                "type": "build",
                "source": scope.connection,
                "id": build_id,
                "pipeline": path,
                "branch": branch,
                "sha": revision.get("SHA1"),
                "status": "running" if building else _RESULTS.get(str(result), "failure"),
                "status_raw": "BUILDING" if building else str(result),
                "started_at": started,
                "finished_at": finished,
                "url": build.get("url"),
                "updated_at": finished or started,
            }
        )
    ]
    for suite in (report or {}).get("suites") or ():
        for case in suite.get("cases") or ():
            records.append(
                TestCaseRecord.model_validate(
                    {
                        "type": "test_case",
                        "source": scope.connection,
                        "build_id": build_id,
                        "suite": suite.get("name") or path,
                        "classname": case.get("className") or "",
                        "name": case["name"],
                        "outcome": _CASE_OUTCOMES.get(case.get("status"), "error"),
                        "duration_s": case.get("duration"),
                        "message": case.get("errorDetails"),
                    }
                )
            )
    return records


def _leaf_jobs(client: JenkinsClient, path: str) -> Iterator[str]:
    children = client.children(path)
    if not children:
        yield path
        return
    for child in children:
        name = f"{path}/{child['name']}" if path else str(child["name"])
        if any(kind in str(child.get("_class")) for kind in _FOLDERS):
            yield from _leaf_jobs(client, name)
        else:
            yield name


def collect_builds(client: JenkinsClient, scope: Scope, cursor: Cursor | None) -> Iterator[Batch]:
    """Yield the new and finished builds of every job under `scope.name`.

    Cursor: `{"jobs": {job path: {"last": number, "open": [numbers]}}}`.
    """
    jobs: dict[str, dict[str, Any]] = {
        k: dict(v) for k, v in ((cursor or {}).get("jobs") or {}).items()
    }
    horizon = scope.start(None)

    def details(path: str, summary: dict[str, Any]) -> list[Record]:
        number = int(summary["number"])
        build = client.build(path, number) or summary
        report = None if build.get("building") else client.test_report(path, number)
        return build_records(path, build, report, scope)

    def job_batches(path: str) -> Iterator[Batch]:
        state = jobs.setdefault(path, {"last": 0, "open": []})
        last, still_open = int(state.get("last") or 0), set(state.get("open") or ())
        newest_finished = last
        for number in sorted(still_open):
            build = client.build(path, number)
            if build is None or not build.get("building"):
                still_open.discard(number)
            if build is not None:
                yield Batch(details(path, build))
                if not build.get("building"):
                    newest_finished = max(newest_finished, number)
        start = 0
        while True:
            page = client.builds(path, start)
            if not page:
                break
            if start == 0 and int(page[0]["number"]) < last:
                last = 0  # the job was recreated and numbers restarted
            records: list[Record] = []
            problems: list[str] = []
            reached = False
            for summary in page:
                number = int(summary["number"])
                begun = _ms(summary.get("timestamp"))
                if number <= last or (last == 0 and begun is not None and begun < horizon):
                    reached = True
                    break
                if number in still_open:
                    continue
                try:
                    records.extend(details(path, summary))
                except ValidationError as exc:
                    problems.append(f"{path} #{number}: {exc.errors()[0]['msg']}")
                    continue
                if summary.get("building"):
                    still_open.add(number)
                else:
                    newest_finished = max(newest_finished, number)
            yield Batch(records, problems=problems)
            if reached or len(page) < client.page_size:
                break
            start += client.page_size
        jobs[path] = {"last": newest_finished, "open": sorted(still_open)}

    def batches() -> Iterator[Batch]:
        for path in _leaf_jobs(client, scope.name):
            try:
                yield from job_batches(path)
            except (KeyError, TypeError, ValueError) as exc:
                msg = (
                    f"Jenkins response for job {path!r} does not have the documented shape ({exc})"
                )
                raise BadSourceResponse(msg) from None

    return lagged(batches(), lambda: {"jobs": jobs})


SPECS = (
    CollectorSpec(
        "jenkins",
        "builds",
        "builds, test_cases",
        "Jenkins builds of a job, folder or multibranch project, with their test reports",
        collect_builds,
    ),
)
