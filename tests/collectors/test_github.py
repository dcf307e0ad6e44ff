"""GitHub collectors against a local fake of the REST API (pytest-httpserver, real clients)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug import Request, Response

from collectors.runner import Runner
from errors import RetriableSourceError, SourceConfigError
from ingest.records import BuildRecord
from ingest.writer import RecordWriter
from integrations.github import github_client
from integrations.http import RetryPolicy
from models import Build, CollectorRun, CollectorState, Commit, Deployment, PullRequest
from settings import ServiceConfig, Settings, SourceConfig
from tests.collectors.conftest import NOW, TOKEN, Sleeps, cursor_of, run_streams
from tests.conftest import FIXTURES

FIX = FIXTURES / "github"
REPO = "octo-org/octo-repo"
API = "/api/v3"  # GitHub Enterprise Server's prefix: exercises the configurable base URL
RUNS = f"{API}/repos/{REPO}/actions/runs"
PAGED = f"{API}/repositories/300029405/actions/runs"


def payload(name: str) -> Any:
    return json.loads((FIX / name).read_text())


def github_settings(
    make_settings: Callable[..., Settings], server: HTTPServer, *streams: str, **options: Any
) -> Settings:
    source = SourceConfig(
        kind="github",
        base_url=server.url_for(API),
        token_env="GH_TOKEN",
        scopes=[REPO],
        streams=list(streams),
        **options,
    )
    catalog = {"api": ServiceConfig(repos=[REPO], environments=["staging", "production"])}
    return make_settings(sources={"gh": source}, services=catalog)


def serve_jobs(server: HTTPServer) -> None:
    server.expect_request(f"{RUNS}/289782451/jobs").respond_with_json(
        payload("jobs_289782451.json")
    )
    server.expect_request(re.compile(rf"^{RUNS}/\d+/jobs$")).respond_with_json(
        payload("jobs_empty.json")
    )


def serve_three_run_pages(server: HTTPServer, etag: str | None = None) -> None:
    headers = {"Link": f'<{server.url_for(PAGED)}?page=2>; rel="next"'}
    if etag:
        headers["ETag"] = etag
    server.expect_request(RUNS).respond_with_json(payload("runs_page_1.json"), headers=headers)
    server.expect_request(PAGED, query_string="page=2").respond_with_json(
        payload("runs_page_2.json"),
        headers={"Link": f'<{server.url_for(PAGED)}?page=3>; rel="next"'},
    )
    server.expect_request(PAGED, query_string="page=3").respond_with_json(
        payload("runs_page_3.json")
    )
    serve_jobs(server)


def builds(sessions: sessionmaker[Session]) -> dict[str, tuple[str, str | None]]:
    with sessions() as session:
        rows = session.execute(select(Build.external_id, Build.status, Build.finished_at))
        return {
            external: (status, finished.isoformat() if finished else None)
            for external, status, finished in rows
        }


def count(sessions: sessionmaker[Session], model: type[Any]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


# ---- workflow runs ---------------------------------------------------------------------


def test_three_pages_of_runs_become_one_build_per_attempt(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    serve_three_run_pages(httpserver)
    runner = make_runner(github_settings(make_settings, httpserver, "workflow_runs"))

    [result] = run_streams(runner)

    assert (result.status, result.error) == ("success", None)
    assert builds(sessions) == {
        "289782460/1": ("running", None),
        "289782451/2": ("success", "2026-01-05T05:49:40+00:00"),  # its last job's end
        "289782451/1": ("failure", "2026-01-05T05:38:16+00:00"),  # the failed first attempt
        "289782402/1": ("failure", "2026-01-04T17:09:31+00:00"),
        "289782390/1": ("cancelled", "2026-01-04T09:16:10+00:00"),
        "289782301/1": ("failure", "2026-01-03T12:00:09+00:00"),  # timed_out
    }
    with sessions() as session:
        build = session.scalars(select(Build).where(Build.external_id == "289782451/2")).one()
    assert (build.source, build.repo, build.service, build.pipeline) == ("gh", REPO, "api", "CI")
    first = httpserver.log[0][0]
    assert first.args["created"] == ">=2025-12-06T00:00:00Z"  # backfill 30 days, day-aligned
    assert first.headers["Authorization"] == f"Bearer {TOKEN}"
    assert first.headers["X-GitHub-Api-Version"] == "2022-11-28"


def test_the_cursor_never_passes_an_unfinished_run(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    serve_three_run_pages(httpserver)

    run_streams(make_runner(github_settings(make_settings, httpserver, "workflow_runs")))

    cursor = cursor_of(sessions, "workflow_runs")
    assert cursor is not None
    assert cursor["since"] == "2026-01-05T05:42:10Z"  # the in-progress run's creation
    assert cursor["open"] == {"289782460": "2026-01-05T05:42:10Z"}
    assert cursor["watermark"] == "2026-01-05T06:10:05Z"


def test_an_in_progress_run_finishing_between_two_collections_is_stored_finished(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    settings = github_settings(make_settings, httpserver, "workflow_runs")
    serve_three_run_pages(httpserver)
    run_streams(make_runner(settings))
    httpserver.clear()
    # Later: the run has completed; it is re-polled by id, and the day's listing has it too.
    finished = payload("run_289782460_completed.json")
    httpserver.expect_request(f"{RUNS}/289782460").respond_with_json(finished)
    httpserver.expect_request(RUNS).respond_with_json(
        {"total_count": 1, "workflow_runs": [finished]}
    )
    serve_jobs(httpserver)

    [result] = run_streams(make_runner(settings, now=NOW + timedelta(hours=1)))

    assert result.status == "success"
    assert builds(sessions)["289782460/1"] == ("success", "2026-01-05T06:31:40+00:00")
    cursor = cursor_of(sessions, "workflow_runs")
    assert cursor is not None
    assert cursor["open"] == {}
    assert cursor["since"] == "2026-01-05T16:58:00Z"  # now (17:00) less the settle delay
    listing = [r for r, _ in httpserver.log if r.path == RUNS]
    assert listing[0].args["created"] == ">=2026-01-05T00:00:00Z"


def test_an_overlapping_window_leaves_row_counts_unchanged(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    settings = github_settings(make_settings, httpserver, "workflow_runs")
    serve_three_run_pages(httpserver)
    run_streams(make_runner(settings))
    before = builds(sessions)

    run_streams(make_runner(settings, now=NOW + timedelta(minutes=10)))

    assert builds(sessions) == before
    assert count(sessions, Build) == 6


def test_an_older_payload_does_not_overwrite_a_newer_one(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    # A webhook already delivered the finished run; the poll still sees it in progress.
    with sessions.begin() as session:
        writer = RecordWriter(session)
        writer.add(
            BuildRecord(
                type="build",
                source="gh",
                id="289782460/1",
                status="success",
                updated_at=NOW.replace(hour=6, minute=31, second=40),
            )
        )
        writer.flush()
    serve_three_run_pages(httpserver)

    run_streams(make_runner(github_settings(make_settings, httpserver, "workflow_runs")))

    assert builds(sessions)["289782460/1"][0] == "success"


def test_an_unchanged_collection_replays_304_responses(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    settings = github_settings(make_settings, httpserver, "workflow_runs", lookback_minutes=0)
    httpserver.expect_request(RUNS, headers={"If-None-Match": '"runs-v1"'}).respond_with_data(
        "", status=304, headers={"ETag": '"runs-v1"'}
    )
    httpserver.expect_request(RUNS).respond_with_json(
        payload("runs_page_1.json"), headers={"ETag": '"runs-v1"'}
    )
    run_460 = f"{RUNS}/289782460"
    httpserver.expect_request(run_460, headers={"If-None-Match": '"run-460"'}).respond_with_data(
        "", status=304
    )
    httpserver.expect_request(run_460).respond_with_json(
        payload("runs_page_1.json")["workflow_runs"][0], headers={"ETag": '"run-460"'}
    )
    serve_jobs(httpserver)
    # The first run reads the backfill; the second reads today (the in-progress run's day).
    run_streams(make_runner(settings, now=NOW.replace(hour=8)))
    run_streams(make_runner(settings, now=NOW.replace(hour=9)))
    before = builds(sessions)

    [result] = run_streams(make_runner(settings, now=NOW.replace(hour=10)))

    assert result.status == "success"
    assert builds(sessions) == before
    third_run = httpserver.log[-2:]
    assert [request.path for request, _ in third_run] == [run_460, RUNS]
    assert [response.status_code for _, response in third_run] == [304, 304]


def test_a_full_listing_is_split_into_days(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    page = payload("runs_page_2.json")

    def listing(request: Request) -> Response:
        created = request.args["created"]
        body = (
            {"total_count": 1500, "workflow_runs": []}
            if created.startswith(">=2026-01-03")
            else page
        )
        if created.startswith("2026-01-03"):
            body = {"total_count": 0, "workflow_runs": []}
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request(RUNS).respond_with_handler(listing)
    serve_jobs(httpserver)
    settings = github_settings(make_settings, httpserver, "workflow_runs", backfill_days=2)

    [result] = run_streams(make_runner(settings))

    assert result.status == "success"
    windows = [r.args["created"] for r, _ in httpserver.log if r.path == RUNS]
    assert windows == [
        ">=2026-01-03T00:00:00Z",
        "2026-01-03T00:00:00Z..2026-01-03T23:59:59Z",
        "2026-01-04T00:00:00Z..2026-01-04T23:59:59Z",
        ">=2026-01-05T00:00:00Z",
    ]
    assert count(sessions, Build) == 2  # page 2's runs, seen in two windows, stored once


# ---- errors, retries, rate limits ------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected_wait"),
    [
        pytest.param({"Retry-After": "7"}, (7, 7), id="retry-after-seconds"),
        pytest.param(
            {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "{in_30_s}"},
            (28, 32),
            id="primary-limit-epoch-reset",
        ),
        pytest.param({}, (60, 60), id="secondary-limit-without-headers"),
    ],
)
def test_a_429_waits_as_long_as_github_says(
    httpserver: HTTPServer,
    sleeps: Sleeps,
    headers: dict[str, str],
    expected_wait: tuple[float, float],
) -> None:
    reset = str(int(time.time()) + 30)
    headers = {name: value.format(in_30_s=reset) for name, value in headers.items()}
    httpserver.expect_oneshot_request(RUNS).respond_with_json(
        {"message": "API rate limit exceeded"}, status=429, headers=headers
    )
    httpserver.expect_request(RUNS).respond_with_json(payload("runs_page_3.json"))
    client = github_client("gh", token=TOKEN, base_url=httpserver.url_for(API), sleep=sleeps.append)

    pages = list(client.workflow_runs(REPO, ">=2026-01-01T00:00:00Z"))

    assert len(pages) == 1
    [waited] = sleeps
    assert expected_wait[0] <= waited <= expected_wait[1]


def test_a_403_secondary_rate_limit_is_retried_but_a_plain_403_is_not(
    httpserver: HTTPServer, sleeps: Sleeps
) -> None:
    httpserver.expect_oneshot_request(RUNS).respond_with_json(
        {"message": "You have exceeded a secondary rate limit."}, status=403
    )
    httpserver.expect_request(RUNS).respond_with_json(payload("runs_page_3.json"))
    httpserver.expect_request(f"{RUNS}/1").respond_with_json(
        {"message": "Resource not accessible by integration"}, status=403
    )
    client = github_client("gh", token=TOKEN, base_url=httpserver.url_for(API), sleep=sleeps.append)

    assert len(list(client.workflow_runs(REPO, ">=2026-01-01T00:00:00Z"))) == 1
    with pytest.raises(SourceConfigError, match="403 FORBIDDEN, the credential lacks permission"):
        client.workflow_run(REPO, 1)
    assert sleeps == [60.0]


def test_a_5xx_then_success_is_retried_with_backoff(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
    sleeps: Sleeps,
) -> None:
    httpserver.expect_oneshot_request(RUNS).respond_with_data("bad gateway", status=502)
    httpserver.expect_request(RUNS).respond_with_json(payload("runs_page_3.json"))
    serve_jobs(httpserver)

    [result] = run_streams(make_runner(github_settings(make_settings, httpserver, "workflow_runs")))

    assert result.status == "success"
    assert count(sessions, Build) == 1
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= 0.05


def test_a_401_is_a_configuration_error_and_is_not_retried(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    httpserver.expect_request(RUNS).respond_with_json({"message": "Bad credentials"}, status=401)

    [result] = run_streams(make_runner(github_settings(make_settings, httpserver, "workflow_runs")))

    assert result.status == "failed"
    assert result.error is not None
    assert "GitHub connection 'gh'" in result.error
    assert "401 UNAUTHORIZED, the credential was rejected" in result.error
    assert TOKEN not in result.error
    assert len(httpserver.log) == 1
    with sessions() as session:
        state = session.scalars(select(CollectorState)).one()
        run = session.scalars(select(CollectorRun)).one()
    assert (state.last_error, state.consecutive_failures, state.lease_owner) == (
        result.error,
        1,
        None,
    )
    assert (run.status, run.error) == ("failed", result.error)


def test_a_missing_token_variable_is_named_and_nothing_is_requested(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
) -> None:
    settings = github_settings(make_settings, httpserver, "workflow_runs")

    [result] = run_streams(make_runner(settings, environ={}))

    assert result.status == "failed"
    assert result.error == (
        "connection 'gh': the environment variable GH_TOKEN (its token_env) is not set"
    )
    assert httpserver.log == []


def test_a_truncated_response_fails_the_run_and_keeps_the_cursor_and_the_rows(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    settings = github_settings(make_settings, httpserver, "workflow_runs")
    serve_three_run_pages(httpserver)
    run_streams(make_runner(settings))
    before_rows, before_cursor = builds(sessions), cursor_of(sessions, "workflow_runs")
    httpserver.clear()
    httpserver.expect_request(f"{RUNS}/289782460").respond_with_json(
        payload("runs_page_1.json")["workflow_runs"][0]
    )
    httpserver.expect_request(RUNS).respond_with_data(
        (FIX / "runs_truncated.json").read_text(), content_type="application/json"
    )

    [result] = run_streams(make_runner(settings, now=NOW + timedelta(hours=1)))

    assert result.status == "failed"
    assert result.error is not None
    assert "the response is not valid JSON" in result.error
    assert "truncated?" in result.error
    assert cursor_of(sessions, "workflow_runs") == before_cursor
    assert builds(sessions) == before_rows


def test_a_response_without_the_documented_fields_fails_with_a_clear_error(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    httpserver.expect_request(RUNS).respond_with_json({"total_count": 1, "runs": []})

    [result] = run_streams(make_runner(github_settings(make_settings, httpserver, "workflow_runs")))

    assert result.status == "failed"
    assert result.error is not None
    assert "does not have the documented shape (missing field 'workflow_runs')" in result.error
    assert cursor_of(sessions, "workflow_runs") is None


def test_a_failing_stream_does_not_stop_the_others(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    gone = "/api/v3/repos/octo-org/gone/actions/runs"
    httpserver.expect_request(gone).respond_with_json({"message": "Not Found"}, status=404)
    httpserver.expect_request(RUNS).respond_with_json(payload("runs_page_3.json"))
    serve_jobs(httpserver)
    source = SourceConfig(
        kind="github",
        base_url=httpserver.url_for(API),
        token_env="GH_TOKEN",
        scopes=["octo-org/gone", REPO],
        streams=["workflow_runs"],
    )

    results = run_streams(make_runner(make_settings(sources={"gh": source})))

    assert [(r.key, r.status) for r in results] == [
        ("gh:workflow_runs:octo-org/gone", "failed"),
        (f"gh:workflow_runs:{REPO}", "success"),
    ]
    assert "404 NOT FOUND, it does not exist" in (results[0].error or "")
    assert count(sessions, Build) == 1


def test_a_run_interrupted_mid_way_and_run_again_gives_the_same_database(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
    engine: Any,
) -> None:
    settings = github_settings(make_settings, httpserver, "workflow_runs")
    serve_three_run_pages(httpserver)
    run_streams(make_runner(settings))
    clean = builds(sessions), cursor_of(sessions, "workflow_runs")
    with engine.begin() as connection:
        for table in ("builds", "collector_state", "collector_runs", "http_cache"):
            connection.exec_driver_sql(f"DELETE FROM {table}")  # noqa: S608 - fixed names
    httpserver.clear()
    # The connection dies for good on page 3 (every retry): the run fails after two pages.
    httpserver.expect_request(PAGED, query_string="page=3").respond_with_data("", status=503)
    serve_three_run_pages(httpserver)

    [failed] = run_streams(make_runner(settings))
    httpserver.clear()
    serve_three_run_pages(httpserver)
    [again] = run_streams(make_runner(settings))

    assert failed.status == "failed"
    assert "server error 503" in (failed.error or "")
    assert again.status == "success"
    assert (builds(sessions), cursor_of(sessions, "workflow_runs")) == clean


def test_a_timeout_is_retried_then_reported(httpserver: HTTPServer, sleeps: Sleeps) -> None:
    def slow(_request: Request) -> Response:
        time.sleep(0.3)
        return Response("{}", content_type="application/json")

    httpserver.expect_request(RUNS).respond_with_handler(slow)
    client = github_client(
        "gh",
        token=TOKEN,
        base_url=httpserver.url_for(API),
        timeout_s=0.05,
        sleep=sleeps.append,
        retry=RetryPolicy(attempts=2, backoff_s=0.01),
    )

    with pytest.raises(
        RetriableSourceError, match=r"timed out \(ReadTimeout\) \(gave up after 2 attempts\)"
    ):
        list(client.workflow_runs(REPO, ">=2026-01-01T00:00:00Z"))
    assert len(sleeps) == 1


# ---- deployments and the commits they shipped ------------------------------------------

DEPLOYMENTS = f"{API}/repos/{REPO}/deployments"
BASE_SHA = "c2e4f6a0b1d2c3e4f5a6b7c8d9e0f1a2b3c4d5e6"
HEAD_SHA = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
COMPARE = f"{API}/repos/{REPO}/compare/{BASE_SHA}...{HEAD_SHA}"


def serve_deployments(server: HTTPServer, staging: str = "statuses_145988700_running.json") -> None:
    server.expect_request(DEPLOYMENTS).respond_with_json(payload("deployments.json"))
    for deployment, statuses in (
        ("145988746", "statuses_145988746.json"),
        ("145988700", staging),
        ("145988001", "statuses_145988001.json"),
    ):
        server.expect_request(f"{DEPLOYMENTS}/{deployment}/statuses").respond_with_json(
            payload(statuses)
        )
    for page in (1, 2, 3):
        link = {"Link": f'<{server.url_for(COMPARE)}?per_page=100&page={page + 1}>; rel="next"'}
        server.expect_request(COMPARE, query_string=f"per_page=100&page={page}").respond_with_json(
            payload(f"compare_page_{page}.json"), headers=link if page < 3 else {}
        )


def deployments(sessions: sessionmaker[Session]) -> dict[str, tuple[Any, ...]]:
    with sessions() as session:
        rows = session.scalars(select(Deployment))
        return {
            d.external_id: (d.service, d.environment, d.status, d.version, d.finished_at)
            for d in rows
        }


def test_deployments_with_statuses_map_to_catalog_environments_and_ship_commits(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    serve_deployments(httpserver)

    [result] = run_streams(make_runner(github_settings(make_settings, httpserver, "deployments")))

    assert (result.status, result.error) == ("success", None)
    stored = deployments(sessions)
    assert set(stored) == {"145988746", "145988700", "145988001"}  # 145900000 predates backfill
    # "Production" takes the catalog's spelling; "inactive" only means superseded.
    assert stored["145988746"][:3] == ("api", "production", "success")
    assert stored["145988746"][4].isoformat() == "2026-01-05T15:20:55+00:00"
    assert stored["145988700"][:3] == ("api", "staging", "running")
    assert stored["145988001"][:4] == ("api", "production", "success", "1.4.0")
    # compare(previous production deployment...this one), paged past GitHub's 250 cap
    with sessions() as session:
        commits = session.scalars(select(Commit)).all()
    assert len(commits) == 260
    merge = next(c for c in commits if c.sha == "f95f852bd8fca8fcc58a9a2d6c842781e32a215e")
    assert len(merge.parents) == 2
    assert merge.message == "Merge pull request #1347 from octocat/feat/retry"
    cursor = cursor_of(sessions, "deployments")
    assert cursor is not None
    assert cursor["open"] == {"145988700": "2026-01-05T15:10:00Z"}
    assert cursor["heads"] == {
        "api/production": {
            "sha": "f95f852bd8fca8fcc58a9a2d6c842781e32a215e",
            "finished_at": "2026-01-05T15:20:55Z",
        }
    }


def test_a_running_deployment_finishing_between_two_collections_is_re_polled_by_id(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    settings = github_settings(make_settings, httpserver, "deployments")
    serve_deployments(httpserver)
    run_streams(make_runner(settings))
    httpserver.clear()
    httpserver.expect_request(f"{DEPLOYMENTS}/145988700").respond_with_json(
        payload("deployment_145988700_updated.json")
    )
    serve_deployments(httpserver, staging="statuses_145988700_failed.json")

    [result] = run_streams(make_runner(settings, now=NOW + timedelta(hours=1)))

    assert result.status == "success"
    status, finished = deployments(sessions)["145988700"][2:5:2]
    assert (status, finished.isoformat()) == ("failure", "2026-01-05T15:40:00+00:00")
    assert count(sessions, Commit) == 260  # the same compare is not repeated
    assert [r.path for r, _ in httpserver.log].count(COMPARE) == 0
    cursor = cursor_of(sessions, "deployments")
    assert cursor is not None and cursor["open"] == {}


# ---- pull requests ---------------------------------------------------------------------


def test_merged_pull_requests_in_the_window_are_stored_with_their_first_commit(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    httpserver.expect_request(f"{API}/repos/{REPO}/pulls").respond_with_json(
        payload("pulls_closed.json")
    )
    httpserver.expect_request(f"{API}/repos/{REPO}/pulls/1347/commits").respond_with_json(
        payload("pull_1347_commits.json")
    )

    [result] = run_streams(make_runner(github_settings(make_settings, httpserver, "pull_requests")))

    assert result.status == "success"
    with sessions() as session:
        [pull] = session.scalars(select(PullRequest)).all()  # 1346 unmerged, 1200 too old
    assert (pull.number, pull.author, pull.labels) == (1347, "octocat", ["bug"])
    assert pull.first_commit_at is not None
    assert pull.first_commit_at.isoformat() == "2026-01-02T16:20:00+00:00"
    assert pull.merge_commit_sha == "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
    assert [r.path for r, _ in httpserver.log].count(f"{API}/repos/{REPO}/pulls/1346/commits") == 0
