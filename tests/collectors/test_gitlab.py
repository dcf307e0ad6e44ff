"""GitLab collectors against a local fake of the REST v4 API."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from email.utils import formatdate
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from collectors.runner import Runner
from integrations.gitlab import gitlab_client
from models import Build, Deployment, PullRequest, TestCase
from settings import ServiceConfig, Settings, SourceConfig
from tests.collectors.conftest import TOKEN, Sleeps, cursor_of, run_streams
from tests.conftest import FIXTURES

FIX = FIXTURES / "gitlab"
PROJECT = "acme/api"
API = "/api/v4"
PIPELINES = f"{API}/projects/acme/api/pipelines"  # the fake server decodes %2F


def payload(name: str) -> Any:
    return json.loads((FIX / name).read_text())


def gitlab_settings(
    make_settings: Callable[..., Settings], server: HTTPServer, *streams: str
) -> Settings:
    source = SourceConfig(
        kind="gitlab",
        base_url=server.url_for(API),
        token_env="GH_TOKEN",
        scopes=[PROJECT],
        streams=list(streams),
    )
    catalog = {"api": ServiceConfig(repos=[PROJECT], environments=["staging", "production"])}
    return make_settings(sources={"gl": source}, services=catalog)


def serve_pipelines(server: HTTPServer) -> None:
    """Three list pages (Link: rel="next"), each pipeline's detail, one test report."""
    for page in (2, 3):
        link = {"Link": f'<{server.url_for(PIPELINES)}?page=3>; rel="next"'} if page == 2 else {}
        server.expect_request(PIPELINES, query_string=f"page={page}").respond_with_json(
            payload(f"pipelines_page_{page}.json"), headers=link
        )
    server.expect_request(PIPELINES).respond_with_json(
        payload("pipelines_page_1.json"),
        headers={"Link": f'<{server.url_for(PIPELINES)}?page=2>; rel="next"'},
    )
    for pipeline in (47, 48, 49, 50):
        server.expect_request(f"{PIPELINES}/{pipeline}").respond_with_json(
            payload(f"pipeline_{pipeline}.json")
        )
    server.expect_request(f"{PIPELINES}/47/test_report").respond_with_json(
        payload("test_report_47.json")
    )
    server.expect_request(re.compile(rf"^{PIPELINES}/\d+/test_report$")).respond_with_json(
        {"message": "404 Not found"}, status=404
    )


def test_three_pages_of_pipelines_become_builds_with_timings_and_test_cases(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    serve_pipelines(httpserver)

    [result] = run_streams(make_runner(gitlab_settings(make_settings, httpserver, "pipelines")))

    assert (result.status, result.error) == ("success", None)
    with sessions() as session:
        builds = {b.external_id: b for b in session.scalars(select(Build))}
        cases = {c.name: c.outcome for c in session.scalars(select(TestCase))}
    assert {key: build.status for key, build in builds.items()} == {
        "47": "success",
        "48": "failure",
        "49": "cancelled",
        "50": "running",
    }
    assert builds["47"].started_at is not None
    assert builds["47"].started_at.isoformat() == "2026-01-05T11:28:40.197000+00:00"
    assert (builds["47"].service, builds["48"].branch) == ("api", "feat/x")
    assert cases == {
        "Security Reports can create an auto-remediation MR": "passed",
        "Login rejects bad password": "failed",
    }
    listing = httpserver.log[0][0]
    assert listing.headers["PRIVATE-TOKEN"] == TOKEN
    assert "/projects/acme%2Fapi/pipelines" in listing.environ["REQUEST_URI"]
    assert (listing.args["order_by"], listing.args["sort"]) == ("updated_at", "asc")
    assert listing.args["updated_after"] == "2025-12-06T16:00:00Z"
    cursor = cursor_of(sessions, "pipelines")
    assert cursor == {"since": "2026-01-05T15:58:00Z", "watermark": "2026-01-05T14:00:05Z"}


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param({"Retry-After": "5"}, (5, 5), id="retry-after"),
        pytest.param({"RateLimit-Reset": "{epoch}"}, (18, 21), id="ratelimit-reset-epoch"),
        pytest.param({"RateLimit-ResetTime": "{http_date}"}, (18, 21), id="ratelimit-resettime"),
        pytest.param({}, (0, 1), id="no-headers-exponential"),
    ],
)
def test_a_429_waits_as_gitlab_says(
    httpserver: HTTPServer, sleeps: Sleeps, headers: dict[str, str], expected: tuple[int, int]
) -> None:
    soon = time.time() + 20
    values = {"epoch": str(int(soon)), "http_date": formatdate(soon, usegmt=True)}
    headers = {name: value.format(**values) for name, value in headers.items()}
    httpserver.expect_oneshot_request(PIPELINES).respond_with_json(
        {"message": "429 Too Many Requests"}, status=429, headers=headers
    )
    httpserver.expect_request(PIPELINES).respond_with_json([])
    client = gitlab_client("gl", token=TOKEN, base_url=httpserver.url_for(API), sleep=sleeps.append)

    assert [page.data for page in client.pipelines(PROJECT, "2026-01-01T00:00:00Z")] == [[]]
    [waited] = sleeps
    assert expected[0] <= waited <= expected[1]


def test_a_401_names_the_gitlab_connection_and_is_not_retried(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
) -> None:
    httpserver.expect_request(PIPELINES).respond_with_json(
        {"message": "401 Unauthorized"}, status=401
    )

    [result] = run_streams(make_runner(gitlab_settings(make_settings, httpserver, "pipelines")))

    assert result.status == "failed"
    assert "GitLab connection 'gl'" in (result.error or "")
    assert "401 UNAUTHORIZED" in (result.error or "")
    assert len(httpserver.log) == 1


def test_deployments_and_merged_requests_are_collected(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    httpserver.expect_request(f"{API}/projects/acme/api/deployments").respond_with_json(
        payload("deployments.json")
    )
    httpserver.expect_request(f"{API}/projects/acme/api/merge_requests").respond_with_json(
        payload("merge_requests.json")
    )
    httpserver.expect_request(
        f"{API}/projects/acme/api/merge_requests/1/commits"
    ).respond_with_json(payload("merge_request_1_commits.json"))
    settings = gitlab_settings(make_settings, httpserver, "deployments", "merge_requests")

    results = run_streams(make_runner(settings))

    assert [r.status for r in results] == ["success", "success"]
    with sessions() as session:
        deployments = {d.external_id: d for d in session.scalars(select(Deployment))}
        [request] = session.scalars(select(PullRequest)).all()
    assert (deployments["42"].environment, deployments["42"].status) == ("production", "success")
    assert deployments["42"].finished_at is not None
    assert deployments["42"].finished_at.isoformat() == "2026-01-05T11:33:35.145000+00:00"
    assert (deployments["43"].environment, deployments["43"].status) == ("staging", "running")
    assert request.merge_commit_sha == "9999999999999999999999999999999999999999"  # squash
    assert request.first_commit_at is not None
    assert request.first_commit_at.isoformat() == "2026-01-02T09:00:00+00:00"
    assert httpserver.log[0][0].args.get("state") is None
    assert httpserver.log[1][0].args["state"] == "merged"
