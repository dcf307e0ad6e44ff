"""GitLab collectors: pipelines -> builds + test cases, deployments, merged MRs -> PRs.

GitLab filters all three by `updated_after` sorted by `updated_at` ascending, so unlike
GitHub a long pipeline's later status change is seen by the window itself. The cursor
rules (collectors.github) are otherwise the same: the window starts `lookback` before
the cursor, the cursor is `now - settle` after a complete run, and items unchanged
since the last successful run (`updated_at` before its watermark) cost no detail requests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from pydantic import ValidationError

from collectors.spec import (
    Batch,
    CollectorSpec,
    Cursor,
    Scope,
    iso,
    lagged,
    parse_time,
    required_time,
)
from errors import BadSourceResponse
from ingest.records import (
    BuildRecord,
    DeploymentRecord,
    PullRequestRecord,
    Record,
    TestCaseRecord,
)
from integrations.gitlab import GitLabClient
from integrations.http import Page

_PIPELINE_STATUS = {
    "success": "success",
    "failed": "failure",
    "canceled": "cancelled",
    "skipped": "skipped",
}
_DEPLOYMENT_STATUS = {"success": "success", "failed": "failure", "canceled": "cancelled"}
_TEST_OUTCOME = {"success": "passed", "failed": "failed", "skipped": "skipped", "error": "error"}

Normalize = Callable[[dict[str, Any]], list[Record]]


def _updated_stream(
    pages: Callable[[str], Iterator[Page]],
    normalize: Normalize,
    scope: Scope,
    cursor: Cursor | None,
) -> Iterator[Batch]:
    """The shared loop: pages of items updated since the window start, oldest first."""
    cursor = cursor or {}
    watermark = parse_time(cursor.get("watermark"))
    newest = [watermark] if watermark else []
    start = scope.start(parse_time(cursor.get("since")))

    def batches() -> Iterator[Batch]:
        for page in pages(iso(start)):
            records: list[Record] = []
            problems: list[str] = []
            try:
                for item in page.data:
                    updated = required_time(item, "updated_at")
                    if watermark is not None and updated < watermark:
                        continue
                    try:
                        records.extend(normalize(item))
                    except ValidationError as exc:
                        problems.append(
                            f"{page.url}: item {item.get('id')}: {exc.errors()[0]['msg']}"
                        )
                        continue
                    newest.append(updated)
            except (KeyError, TypeError, ValueError) as exc:
                detail = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
                msg = f"GitLab response of {page.url} does not have the documented shape ({detail})"
                raise BadSourceResponse(msg) from None
            yield Batch(records, problems=problems)

    def final_cursor() -> Cursor:
        top = max(newest, default=None)
        return {"since": iso(scope.settled), "watermark": iso(top) if top else None}

    return lagged(batches(), final_cursor)


def pipeline_records(
    pipeline: dict[str, Any], report: dict[str, Any] | None, scope: Scope
) -> list[Record]:
    """A pipeline (its detail) as a build, and its test report's cases."""
    status_raw = pipeline["status"]
    status = _PIPELINE_STATUS.get(status_raw, "running")
    build_id = str(pipeline["id"])
    started = parse_time(pipeline.get("started_at"))
    finished = parse_time(pipeline.get("finished_at")) if status != "running" else None
    if finished is None and status != "running":
        finished = parse_time(pipeline["updated_at"])
    if started is not None and finished is not None and finished < started:
        started = finished
    records: list[Record] = [
        BuildRecord.model_validate(
            {
                "type": "build",
                "source": scope.connection,
                "id": build_id,
                "repo": scope.name,
                "service": scope.service_for_repo(scope.name),
                "pipeline": pipeline.get("name") or pipeline.get("source"),
                "branch": pipeline.get("ref"),
                "sha": pipeline.get("sha"),
                "status": status,
                "status_raw": status_raw,
                "started_at": started,
                "finished_at": finished,
                "url": pipeline.get("web_url"),
                "updated_at": parse_time(pipeline["updated_at"]),
            }
        )
    ]
    for suite in (report or {}).get("test_suites") or ():
        for case in suite.get("test_cases") or ():
            duration = case.get("execution_time")
            records.append(
                TestCaseRecord.model_validate(
                    {
                        "type": "test_case",
                        "source": scope.connection,
                        "build_id": build_id,
                        "suite": suite["name"],
                        "classname": case.get("classname") or suite["name"],
                        "name": case["name"],
                        "outcome": _TEST_OUTCOME.get(case["status"], "error"),
                        "duration_s": float(duration) if duration is not None else None,
                        "message": (case.get("system_output") or case.get("stack_trace") or None),
                    }
                )
            )
    return records


def collect_pipelines(client: GitLabClient, scope: Scope, cursor: Cursor | None) -> Iterator[Batch]:
    """Yield builds of `scope.name`'s pipelines (detail for timings) and their test cases.

    Cursor: `{"since": ISO, "watermark": ISO}`.
    """

    def normalize(listed: dict[str, Any]) -> list[Record]:
        detail = client.pipeline(scope.name, int(listed["id"])) or listed
        finished = detail["status"] in _PIPELINE_STATUS
        report = client.test_report(scope.name, int(listed["id"])) if finished else None
        return pipeline_records(detail, report, scope)

    return _updated_stream(
        lambda after: client.pipelines(scope.name, after), normalize, scope, cursor
    )


def deployment_record(deployment: dict[str, Any], scope: Scope) -> DeploymentRecord:
    """A GitLab deployment; its job (`deployable`) gives the times when it has them."""
    status_raw = deployment["status"]
    status = _DEPLOYMENT_STATUS.get(status_raw, "running")
    job = deployment.get("deployable") or {}
    started = parse_time(job.get("started_at")) or parse_time(deployment.get("created_at"))
    finished = None
    if status != "running":
        finished = parse_time(job.get("finished_at")) or parse_time(deployment["updated_at"])
    if started is not None and finished is not None and finished < started:
        started = finished
    service, environment = scope.map_deployment(scope.name, deployment["environment"]["name"])
    return DeploymentRecord.model_validate(
        {
            "type": "deployment",
            "source": scope.connection,
            "id": str(deployment["id"]),
            "service": service,
            "environment": environment,
            "sha": deployment["sha"],
            "ref": deployment.get("ref"),
            "repo": scope.name,
            "status": status,
            "status_raw": status_raw,
            "started_at": started,
            "finished_at": finished,
            "url": job.get("web_url"),
            "actor": (deployment.get("user") or {}).get("username"),
            "updated_at": parse_time(deployment["updated_at"]),
        }
    )


def collect_deployments(
    client: GitLabClient, scope: Scope, cursor: Cursor | None
) -> Iterator[Batch]:
    """Yield deployments of `scope.name` (environments mapped through the catalog)."""
    return _updated_stream(
        lambda after: client.deployments(scope.name, after),
        lambda item: [deployment_record(item, scope)],
        scope,
        cursor,
    )


def collect_merge_requests(
    client: GitLabClient, scope: Scope, cursor: Cursor | None
) -> Iterator[Batch]:
    """Yield merged merge requests of `scope.name` with their first commit's time.

    The shipped sha is the merge commit, else the squash commit, else the head (a
    fast-forward merge).
    """

    def normalize(request: dict[str, Any]) -> list[Record]:
        commits: Sequence[dict[str, Any]] = client.merge_request_commits(
            scope.name, int(request["iid"])
        )
        authored = [parse_time(c.get("authored_date")) for c in commits]
        return [
            PullRequestRecord.model_validate(
                {
                    "type": "pull_request",
                    "source": scope.connection,
                    "repo": scope.name,
                    "number": int(request["iid"]),
                    "title": request.get("title"),
                    "author": (request.get("author") or {}).get("username"),
                    "opened_at": required_time(request, "created_at"),
                    "first_commit_at": min(filter(None, authored), default=None),
                    "merged_at": parse_time(request.get("merged_at")),
                    "merge_commit_sha": request.get("merge_commit_sha")
                    or request.get("squash_commit_sha")
                    or request.get("sha"),
                    "labels": list(request.get("labels") or []),
                    "updated_at": required_time(request, "updated_at"),
                }
            )
        ]

    return _updated_stream(
        lambda after: client.merged_requests(scope.name, after), normalize, scope, cursor
    )


SPECS = (
    CollectorSpec(
        "gitlab",
        "pipelines",
        "builds, test_cases",
        "GitLab pipelines with their timings and test reports",
        collect_pipelines,
    ),
    CollectorSpec(
        "gitlab", "deployments", "deployments", "GitLab deployments", collect_deployments
    ),
    CollectorSpec(
        "gitlab",
        "merge_requests",
        "pull_requests",
        "Merged GitLab merge requests with their first commit's time",
        collect_merge_requests,
    ),
)
