"""GitHub collectors: runs -> builds, deployments -> deployments + commits, merged PRs.

Deployments also yield the commits each shipped (compare), with their parents.

Cursor rules, common to the three streams (`Scope.start`, `Scope.settled`):

- A run reads from `since - lookback` (the first run: the backfill horizon) to now.
  `since` never passes `now - settle`, nor the creation time of an item still
  unfinished, so a slow run or deployment is always inside the next window as well.
- Unfinished items (runs not `completed`, deployments whose newest status is not
  terminal) are also re-polled by id, with conditional requests, until they finish or
  are older than `max_open_days`.
- Items a successful run already stored and that have not changed since (`updated_at`
  before that run's watermark) are not fetched again, so overlapping windows cost no
  detail requests and write nothing twice.
- The new cursor travels in the last batch, with the last page's rows.

The normalizers (`build_records`, `deployment_record`) are shared with the webhook
receiver, so a delivery and a poll of the same item store the same row.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
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
from ingest.records import BuildRecord, CommitRecord, DeploymentRecord, PullRequestRecord
from integrations.github import GitHubClient
from integrations.http import Page

# GitHub returns at most 1,000 runs for a filtered listing; a window at the cap is split.
RUN_LISTING_CAP = 1000
SPLIT_STEPS = (timedelta(days=1), timedelta(hours=1), timedelta(minutes=1))

_CONCLUSIONS = {
    "success": "success",
    "failure": "failure",
    "timed_out": "failure",
    "startup_failure": "failure",
    "action_required": "failure",
    "cancelled": "cancelled",
    "skipped": "skipped",
    "neutral": "skipped",
    "stale": "skipped",
}
_TERMINAL_DEPLOYMENT_STATES = {"success": "success", "failure": "failure", "error": "failure"}


def _shape_error(page_url: str, exc: Exception) -> BadSourceResponse:
    detail = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
    msg = f"GitHub response of {page_url} does not have the documented shape ({detail})"
    return BadSourceResponse(msg)


def _day_floor(value: datetime) -> datetime:
    return value.replace(hour=0, minute=0, second=0, microsecond=0)


# ---- workflow runs ---------------------------------------------------------------------


def build_records(
    run: dict[str, Any], jobs: Sequence[dict[str, Any]] | None, scope: Scope
) -> list[BuildRecord]:
    """The builds of one workflow run: its current attempt, and earlier attempts from `jobs`.

    Each attempt is its own build (`<run id>/<attempt>`), so a re-run that passes keeps the
    failed attempt beside it: the failure then the pass on one sha is the flaky signal.
    The current attempt finishes when its last job does (more exact than `updated_at`).
    """
    repo = run.get("repository", {}).get("full_name") or scope.name
    service = scope.service_for_repo(repo)
    attempt = int(run.get("run_attempt") or 1)
    completed = run["status"] == "completed"
    conclusion = run.get("conclusion")
    by_attempt: dict[int, list[dict[str, Any]]] = {}
    for job in jobs or ():
        by_attempt.setdefault(int(job.get("run_attempt") or 1), []).append(job)
    current_jobs = by_attempt.pop(attempt, [])
    job_ends = [t for job in current_jobs if (t := parse_time(job.get("completed_at")))]
    updated = parse_time(run["updated_at"])
    started = parse_time(run.get("run_started_at")) or parse_time(run.get("created_at"))
    finished = (max(job_ends) if job_ends else updated) if completed else None
    if finished is not None and started is not None and finished < started:
        finished = started
    common = {
        "type": "build",
        "source": scope.connection,
        "repo": repo,
        "service": service,
        "pipeline": run.get("name") or run.get("path"),
        "branch": run.get("head_branch"),
        "sha": run.get("head_sha"),
        "url": run.get("html_url"),
    }
    records = [
        BuildRecord.model_validate(
            common
            | {
                "id": f"{run['id']}/{attempt}",
                "status": _CONCLUSIONS.get(conclusion or "", "failure") if completed else "running",
                "status_raw": (conclusion or run["status"]) if completed else run["status"],
                "started_at": started,
                "finished_at": finished,
                "updated_at": updated,
            }
        )
    ]
    for earlier, attempt_jobs in sorted(by_attempt.items()):
        conclusions = {str(job.get("conclusion")) for job in attempt_jobs}
        failed = conclusions & {"failure", "timed_out", "startup_failure"}
        status = "failure" if failed else "cancelled" if "cancelled" in conclusions else "success"
        starts = [t for job in attempt_jobs if (t := parse_time(job.get("started_at")))]
        ends = [t for job in attempt_jobs if (t := parse_time(job.get("completed_at")))]
        records.append(
            BuildRecord.model_validate(
                common
                | {
                    "id": f"{run['id']}/{earlier}",
                    "status": status,
                    "status_raw": min(failed) if failed else status,
                    "started_at": min(starts) if starts else None,
                    "finished_at": max(ends) if ends else None,
                    "updated_at": max(ends) if ends else updated,
                }
            )
        )
    return records


@dataclass
class _RunsState:
    watermark: datetime | None
    open_runs: dict[int, datetime] = field(default_factory=dict)
    newest_update: datetime | None = None

    def saw(self, updated: datetime) -> None:
        if self.newest_update is None or updated > self.newest_update:
            self.newest_update = updated


def collect_workflow_runs(
    client: GitHubClient, scope: Scope, cursor: Cursor | None
) -> Iterator[Batch]:
    """Yield the builds of `scope.name`'s workflow runs (see the module's cursor rules).

    GitHub can filter runs only by creation time and caps a filtered listing at 1,000, so
    the window `created>=start` (start aligned down to a UTC day, which keeps the URL, and
    so its ETag, the same between runs) is split into days, hours, minutes when full.

    Cursor: `{"since": ISO, "watermark": ISO, "open": {run id: created ISO}}`.
    """
    cursor = cursor or {}
    since = parse_time(cursor.get("since"))
    state = _RunsState(parse_time(cursor.get("watermark")))
    previous_open = {int(k): v for k, v in (cursor.get("open") or {}).items()}
    repolled: set[int] = set()

    def normalize(runs: Sequence[dict[str, Any]], url: str) -> Batch:
        records: list[BuildRecord] = []
        problems: list[str] = []
        for run in runs:
            try:
                run_id = int(run["id"])
                updated = required_time(run, "updated_at")
                created = required_time(run, "created_at")
                completed = run["status"] == "completed"
                unchanged = state.watermark is not None and updated < state.watermark
                if completed and unchanged and run_id not in previous_open:
                    continue
                jobs = (
                    client.run_jobs(scope.name, run_id)
                    if completed and scope.config.build_jobs
                    else None
                )
                records.extend(build_records(run, jobs, scope))
            except ValidationError as exc:
                problems.append(f"{url}: run {run.get('id')}: {exc.errors()[0]['msg']}")
                continue
            except (KeyError, TypeError, ValueError) as exc:
                raise _shape_error(url, exc) from None
            state.saw(updated)
            if completed:
                state.open_runs.pop(run_id, None)
            elif created >= scope.open_horizon:
                state.open_runs[run_id] = created
        return Batch(records, problems=problems)

    def batches() -> Iterator[Batch]:
        for run_id, created_text in sorted(previous_open.items()):
            created = parse_time(created_text)
            if created is None or created < scope.open_horizon:
                continue
            run = client.workflow_run(scope.name, run_id)
            repolled.add(run_id)
            if run is not None:
                yield normalize([run], f"run {run_id}")
        start = _day_floor(scope.start(since))
        for page in _run_pages(client, scope, start, None):
            try:
                runs = [run for run in page.data["workflow_runs"] if int(run["id"]) not in repolled]
            except (KeyError, TypeError, ValueError) as exc:
                raise _shape_error(page.url, exc) from None
            yield normalize(runs, page.url)

    def final_cursor() -> Cursor:
        new_since = min([scope.settled, *state.open_runs.values()])
        watermark = max(filter(None, [state.watermark, state.newest_update]), default=None)
        return {
            "since": iso(new_since),
            "watermark": iso(watermark) if watermark else None,
            "open": {str(k): iso(v) for k, v in sorted(state.open_runs.items())},
        }

    return lagged(batches(), final_cursor)


def _run_pages(
    client: GitHubClient, scope: Scope, start: datetime, end: datetime | None
) -> Iterator[Page]:
    """Pages of runs created in [start, end) (end None: open), splitting full windows."""
    created = (
        f">={iso(start)}" if end is None else f"{iso(start)}..{iso(end - timedelta(seconds=1))}"
    )
    pages = client.workflow_runs(scope.name, created)
    first = next(pages, None)
    if first is None:
        return
    try:
        total = int(first.data["total_count"])
    except (KeyError, TypeError, ValueError) as exc:
        raise _shape_error(first.url, exc) from None
    horizon = end or scope.now
    step = next((s for s in SPLIT_STEPS if s < horizon - start), None)
    if total >= RUN_LISTING_CAP and step is not None:
        pages.close()
        edge = start
        while edge + step < horizon:
            yield from _run_pages(client, scope, edge, edge + step)
            edge += step
        yield from _run_pages(client, scope, edge, end)
        return
    yield first
    yield from pages


# ---- deployments -----------------------------------------------------------------------


def deployment_record(
    deployment: dict[str, Any], statuses: Sequence[dict[str, Any]], scope: Scope, repo: str
) -> DeploymentRecord:
    """Normalize a deployment and its statuses (newest first) into one record.

    Outcome: the newest status that is not `inactive` (which only means "superseded");
    success, or failure for `failure`/`error`; running while queued, pending or in
    progress. A deployment that only ever went inactive was cancelled. It started at its
    first `in_progress` status (else its creation) and finished at its first terminal one.
    """
    oldest_first = list(reversed(statuses))
    deciding = next((s for s in statuses if s["state"] != "inactive"), None)
    created = parse_time(deployment["created_at"])
    in_progress = [s for s in oldest_first if s["state"] == "in_progress"]
    started = parse_time(in_progress[0]["created_at"]) if in_progress else created
    terminal = [s for s in oldest_first if s["state"] in _TERMINAL_DEPLOYMENT_STATES]
    finished: datetime | None = None
    if deciding is None and statuses:
        status, raw = "cancelled", "inactive"
        finished = parse_time(oldest_first[0]["created_at"])
    elif deciding is None:
        status, raw = "running", "created"
    elif deciding["state"] in _TERMINAL_DEPLOYMENT_STATES:
        status, raw = _TERMINAL_DEPLOYMENT_STATES[deciding["state"]], deciding["state"]
        finished = parse_time(terminal[0]["created_at"])
    else:
        status, raw = "running", deciding["state"]
    if finished is not None and started is not None and finished < started:
        started = finished
    updates = [parse_time(deployment.get("updated_at"))] + [
        parse_time(s.get("updated_at") or s.get("created_at")) for s in statuses
    ]
    service, environment = scope.map_deployment(repo, deployment["environment"])
    payload = deployment.get("payload")
    version = payload.get("version") if isinstance(payload, dict) else None
    url = next(
        (
            s.get("log_url") or s.get("target_url")
            for s in statuses
            if s.get("log_url") or s.get("target_url")
        ),
        None,
    )
    return DeploymentRecord.model_validate(
        {
            "type": "deployment",
            "source": scope.connection,
            "id": str(deployment["id"]),
            "service": service,
            "environment": environment,
            "sha": deployment["sha"],
            "ref": deployment.get("ref"),
            "version": version if isinstance(version, str) and version else None,
            "repo": repo,
            "status": status,
            "status_raw": raw,
            "started_at": started,
            "finished_at": finished,
            "url": url,
            "actor": (deployment.get("creator") or {}).get("login"),
            "updated_at": max(filter(None, updates), default=None),
        }
    )


def collect_deployments(
    client: GitHubClient, scope: Scope, cursor: Cursor | None
) -> Iterator[Batch]:
    """Yield deployments of `scope.name` with their statuses, and the commits each shipped.

    Deployments are listed newest first (GitHub has no time filter) down to the window
    start. For every successful deployment newer than its environment's previous one
    (the cursor's `heads`), compare `previous...this` yields the commits in between with
    their parents, page after page (compare lists only 250 commits unless paged).

    Cursor: `{"since", "watermark", "open": {id: created}, "heads": {env: {sha, created_at}}}`.
    """
    cursor = cursor or {}
    since = parse_time(cursor.get("since"))
    state = _RunsState(parse_time(cursor.get("watermark")))
    previous_open = {int(k): v for k, v in (cursor.get("open") or {}).items()}
    heads: dict[str, dict[str, str]] = dict(cursor.get("heads") or {})
    succeeded: list[DeploymentRecord] = []
    handled: set[int] = set()

    def normalize(deployments: Sequence[dict[str, Any]], url: str) -> Batch:
        records: list[DeploymentRecord] = []
        problems: list[str] = []
        for deployment in deployments:
            try:
                deployment_id = int(deployment["id"])
                updated = required_time(deployment, "updated_at")
                created = required_time(deployment, "created_at")
                unchanged = state.watermark is not None and updated < state.watermark
                if unchanged and deployment_id not in previous_open:
                    continue
                statuses = client.deployment_statuses(scope.name, deployment_id)
                record = deployment_record(deployment, statuses, scope, scope.name)
            except ValidationError as exc:
                problems.append(
                    f"{url}: deployment {deployment.get('id')}: {exc.errors()[0]['msg']}"
                )
                continue
            except (KeyError, TypeError, ValueError) as exc:
                raise _shape_error(url, exc) from None
            handled.add(deployment_id)
            records.append(record)
            if record.updated_at:
                state.saw(record.updated_at)
            if record.status == "running" and created >= scope.open_horizon:
                state.open_runs[deployment_id] = created
            else:
                state.open_runs.pop(deployment_id, None)
            if record.status == "success":
                succeeded.append(record)
        return Batch(records, problems=problems)

    def batches() -> Iterator[Batch]:
        for deployment_id, created_text in sorted(previous_open.items()):
            created = parse_time(created_text)
            if created is None or created < scope.open_horizon:
                continue
            deployment = client.deployment(scope.name, deployment_id)
            if deployment is not None:
                yield normalize([deployment], f"deployment {deployment_id}")
        start = scope.start(since)
        for page in client.deployments(scope.name):
            try:
                items = [d for d in page.data if int(d["id"]) not in handled]
                reached_start = any(parse_time(d["created_at"]) < start for d in page.data)  # type: ignore[operator]
            except (KeyError, TypeError, ValueError) as exc:
                raise _shape_error(page.url, exc) from None
            yield normalize([d for d in items if parse_time(d["created_at"]) >= start], page.url)  # type: ignore[operator]
            if reached_start:
                break
        yield from _shipped_commits(client, scope, succeeded, heads)

    def final_cursor() -> Cursor:
        new_since = min([scope.settled, *state.open_runs.values()])
        watermark = max(filter(None, [state.watermark, state.newest_update]), default=None)
        return {
            "since": iso(new_since),
            "watermark": iso(watermark) if watermark else None,
            "open": {str(k): iso(v) for k, v in sorted(state.open_runs.items())},
            "heads": heads,
        }

    return lagged(batches(), final_cursor)


def _shipped_commits(
    client: GitHubClient,
    scope: Scope,
    succeeded: list[DeploymentRecord],
    heads: dict[str, dict[str, str]],
) -> Iterator[Batch]:
    """Compare each new successful deployment with the previous one of its environment."""
    for record in sorted(
        succeeded, key=lambda r: (iso(r.finished_at) if r.finished_at else "", r.id)
    ):
        if record.sha is None or record.finished_at is None:
            continue
        key = f"{record.service}/{record.environment}".lower()
        head = heads.get(key)
        when = iso(record.finished_at)
        if head is not None and head["finished_at"] >= when:
            continue  # an older deployment re-read by the lookback
        heads[key] = {"sha": record.sha, "finished_at": when}
        if head is None or head["sha"] == record.sha:
            continue  # the first deployment seen has no base to compare with
        for page in client.compare(scope.name, head["sha"], record.sha):
            try:
                if page.data["status"] in ("behind", "diverged"):
                    break  # a rollback or a force push: no commits to attribute
                commits = [_commit_record(item, scope.name, scope) for item in page.data["commits"]]
            except (KeyError, TypeError, ValueError, ValidationError) as exc:
                raise _shape_error(page.url, exc) from None
            yield Batch(commits)


def _commit_record(item: dict[str, Any], repo: str, scope: Scope) -> CommitRecord:
    commit = item["commit"]
    author = commit.get("author") or {}
    return CommitRecord(
        type="commit",
        source=scope.connection,
        repo=repo,
        sha=item["sha"],
        parents=[parent["sha"] for parent in item.get("parents") or ()],
        author=(item.get("author") or {}).get("login") or author.get("name"),
        authored_at=parse_time(author["date"]),  # type: ignore[arg-type]
        committed_at=parse_time((commit.get("committer") or {}).get("date")),
        message=commit.get("message"),
    )


# ---- pull requests ---------------------------------------------------------------------


def collect_pull_requests(
    client: GitHubClient, scope: Scope, cursor: Cursor | None
) -> Iterator[Batch]:
    """Yield merged pull requests of `scope.name` updated in the window, with first-commit time.

    Closed pull requests are listed most recently updated first down to the window start;
    unmerged ones are skipped. `first_commit_at` is the earliest author date among the
    pull request's commits.

    Cursor: `{"since": ISO, "watermark": ISO}`.
    """
    cursor = cursor or {}
    since = parse_time(cursor.get("since"))
    state = _RunsState(parse_time(cursor.get("watermark")))
    start = scope.start(since)

    def normalize(pulls: Sequence[dict[str, Any]], url: str) -> Batch:
        records: list[PullRequestRecord] = []
        problems: list[str] = []
        for pull in pulls:
            try:
                updated = parse_time(pull["updated_at"])
                if pull.get("merged_at") is None or updated is None:
                    continue
                if state.watermark is not None and updated < state.watermark:
                    continue
                commits = client.pull_commits(scope.name, int(pull["number"]))
                authored = [parse_time(c["commit"]["author"]["date"]) for c in commits]
                records.append(
                    PullRequestRecord(
                        type="pull_request",
                        source=scope.connection,
                        repo=scope.name,
                        number=int(pull["number"]),
                        title=pull.get("title"),
                        author=(pull.get("user") or {}).get("login"),
                        opened_at=parse_time(pull["created_at"]),  # type: ignore[arg-type]
                        first_commit_at=min(filter(None, authored), default=None),
                        merged_at=parse_time(pull["merged_at"]),
                        merge_commit_sha=pull.get("merge_commit_sha"),
                        labels=[label["name"] for label in pull.get("labels") or ()],
                        updated_at=updated,
                    )
                )
            except ValidationError as exc:
                problems.append(
                    f"{url}: pull request {pull.get('number')}: {exc.errors()[0]['msg']}"
                )
                continue
            except (KeyError, TypeError, ValueError) as exc:
                raise _shape_error(url, exc) from None
            state.saw(updated)
        return Batch(records, problems=problems)

    def batches() -> Iterator[Batch]:
        for page in client.closed_pulls(scope.name):
            try:
                times = [parse_time(pull["updated_at"]) for pull in page.data]
            except (KeyError, TypeError, ValueError) as exc:
                raise _shape_error(page.url, exc) from None
            in_window = [p for p, t in zip(page.data, times, strict=True) if t and t >= start]
            yield normalize(in_window, page.url)
            if len(in_window) < len(page.data):
                break

    def final_cursor() -> Cursor:
        watermark = max(filter(None, [state.watermark, state.newest_update]), default=None)
        return {"since": iso(scope.settled), "watermark": iso(watermark) if watermark else None}

    return lagged(batches(), final_cursor)


SPECS = (
    CollectorSpec(
        "github",
        "workflow_runs",
        "builds",
        "GitHub Actions workflow runs and their jobs, one build per attempt",
        collect_workflow_runs,
    ),
    CollectorSpec(
        "github",
        "deployments",
        "deployments, commits",
        "GitHub deployments with their statuses, and the commits each shipped (compare)",
        collect_deployments,
    ),
    CollectorSpec(
        "github",
        "pull_requests",
        "pull_requests",
        "Merged GitHub pull requests with their first commit's time",
        collect_pull_requests,
    ),
)
