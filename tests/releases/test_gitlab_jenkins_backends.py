"""The GitLab and Jenkins backends against real local HTTP servers: exact requests, 4xx/5xx."""

from __future__ import annotations

import base64
import json
import uuid
from urllib.parse import parse_qs

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy.orm import Session, sessionmaker

from releases import actions
from releases.actions import ActionResult
from releases.backends import http
from settings import Settings
from tests.releases.data import settings_from
from tests.releases.test_actions import ANA, BO, audit, seed

TOKEN = "glpat-test"
# The server sees the path decoded; the raw request keeps GitLab's encoded project path.
PROJECT = "/projects/acme/api"


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "BACKOFF_SECONDS", 0.0)
    monkeypatch.setenv("FD_TEST_TOKEN", TOKEN)


def gitlab(server: HTTPServer, mode: str = "dispatch") -> Settings:
    return settings_from(
        '[[backends]]\nservice = "api"\nenvironment = "production"\nkind = "gitlab"\n'
        f'base_url = "{server.url_for("/api/v4")}"\nrepo = "acme/api"\n'
        f'token_env = "FD_TEST_TOKEN"\nmode = "{mode}"\nretries = 1\n'
    )


def jenkins(server: HTTPServer, mode: str = "dispatch") -> Settings:
    return settings_from(
        '[[backends]]\nservice = "api"\nenvironment = "production"\nkind = "jenkins"\n'
        f'base_url = "{server.url_for("/jenkins")}"\njob = "payments/api-deploy"\n'
        f'user = "release-bot"\ntoken_env = "FD_TEST_TOKEN"\nmode = "{mode}"\nretries = 1\n'
    )


def roll_back(sessions: sessionmaker[Session], settings: Settings, key: str) -> ActionResult:
    return actions.rollback(
        sessions,
        settings,
        actor=ANA,
        service="api",
        environment="production",
        target_version="1.0",
        expected_current_version="1.1",
        reason="errors",
        idempotency_key=key,
        confirmation="api",
    )


def promote(sessions: sessionmaker[Session], settings: Settings) -> ActionResult:
    asked = actions.request_promotion(
        sessions,
        settings,
        actor=ANA,
        service="api",
        environment="production",
        version="1.2",
        expected_current_version="1.1",
        idempotency_key=uuid.uuid4().hex,
    )
    actions.approve(sessions, actor=BO, request_id=asked.action_id or 0, idempotency_key="ok")
    return actions.promote(
        sessions,
        settings,
        actor=BO,
        request_id=asked.action_id or 0,
        expected_current_version="1.1",
        idempotency_key=uuid.uuid4().hex,
    )


def test_gitlab_rollback_runs_a_pipeline_with_the_request_variables(
    sessions: sessionmaker[Session], httpserver: HTTPServer
) -> None:
    seed(sessions)
    httpserver.expect_request(f"/api/v4{PROJECT}/pipeline", method="POST").respond_with_json(
        {"id": 901, "web_url": "https://gitlab.example/acme/api/-/pipelines/901"}, status=201
    )

    result = roll_back(sessions, gitlab(httpserver), "gl-1")

    assert (result.outcome, result.backend_ref) == ("dispatched", "901")
    request, _ = httpserver.log[0]
    assert request.headers["PRIVATE-TOKEN"] == TOKEN
    assert request.environ["REQUEST_URI"] == "/api/v4/projects/acme%2Fapi/pipeline"
    assert json.loads(request.get_data()) == {
        "ref": "main",
        "variables": [
            {"key": "FLIGHTDECK_ACTION", "value": "rollback"},
            {"key": "FLIGHTDECK_ENVIRONMENT", "value": "production"},
            {"key": "FLIGHTDECK_VERSION", "value": "1.0"},
            {"key": "FLIGHTDECK_REQUEST_ID", "value": "gl-1"},
        ],
    }


def test_gitlab_review_approves_the_blocked_deployment_and_plays_its_job(
    sessions: sessionmaker[Session], httpserver: HTTPServer
) -> None:
    seed(sessions)
    httpserver.expect_request(
        f"/api/v4{PROJECT}/deployments",
        method="GET",
        query_string={"environment": "production", "status": "blocked"},
    ).respond_with_json(
        [
            {"id": 41, "sha": "ffff9999", "deployable": {"id": 1}},
            {"id": 42, "sha": "aaaa2222", "deployable": {"id": 7001}},
        ]
    )
    httpserver.expect_request(
        f"/api/v4{PROJECT}/deployments/42/approval", method="POST"
    ).respond_with_json({"status": "approved"})
    httpserver.expect_request(f"/api/v4{PROJECT}/jobs/7001/play", method="POST").respond_with_json(
        {"id": 7001, "web_url": "https://gitlab.example/acme/api/-/jobs/7001"}
    )

    result = promote(sessions, gitlab(httpserver, mode="review"))

    assert (result.outcome, result.message) == (
        "dispatched",
        "approved deployment 42 and played job 7001",
    )
    approval = json.loads(httpserver.log[1][0].get_data())
    assert approval["status"] == "approved"
    assert approval["comment"].startswith(f"Approved in Flightdeck by {BO.name} (request ")


def test_gitlab_forbidden_fails_once_and_a_5xx_is_retried(
    sessions: sessionmaker[Session], httpserver: HTTPServer
) -> None:
    seed(sessions)
    httpserver.expect_oneshot_request(f"/api/v4{PROJECT}/pipeline").respond_with_json(
        {"message": "403 Forbidden"}, status=403
    )
    forbidden = roll_back(sessions, gitlab(httpserver), "gl-2")
    httpserver.expect_request(f"/api/v4{PROJECT}/pipeline").respond_with_data("", status=502)
    unavailable = roll_back(sessions, gitlab(httpserver), "gl-3")

    assert (forbidden.outcome, forbidden.message) == (
        "failed",
        "GitLab refused the request (HTTP 403): 403 Forbidden",
    )
    assert (unavailable.outcome, unavailable.message) == (
        "failed",
        "GitLab answered HTTP 502, 2 attempts",
    )
    assert len(httpserver.log) == 3
    assert TOKEN not in json.dumps([event.details for event in audit(sessions)])


def test_jenkins_rollback_queues_a_parameterised_build_as_its_user(
    sessions: sessionmaker[Session], httpserver: HTTPServer
) -> None:
    seed(sessions)
    httpserver.expect_request(
        "/jenkins/job/payments/job/api-deploy/buildWithParameters", method="POST"
    ).respond_with_data(
        "", status=201, headers={"Location": "https://jenkins.example/queue/item/55/"}
    )

    result = roll_back(sessions, jenkins(httpserver), "jk-1")

    assert (result.outcome, result.backend_ref) == (
        "dispatched",
        "https://jenkins.example/queue/item/55/",
    )
    request, _ = httpserver.log[0]
    expected_auth = base64.b64encode(f"release-bot:{TOKEN}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected_auth}"
    assert parse_qs(request.get_data(as_text=True)) == {
        "ACTION": ["rollback"],
        "ENVIRONMENT": ["production"],
        "VERSION": ["1.0"],
        "REQUEST_ID": ["jk-1"],
    }


def test_jenkins_review_proceeds_the_pending_input(
    sessions: sessionmaker[Session], httpserver: HTTPServer
) -> None:
    seed(sessions)
    build = "/jenkins/job/payments/job/api-deploy/lastBuild"
    httpserver.expect_request(f"{build}/wfapi/pendingInputActions").respond_with_json(
        [{"id": "deployProd", "proceedUrl": "/x", "abortUrl": "/y"}]
    )
    httpserver.expect_request(
        f"{build}/input/DeployProd/proceedEmpty", method="POST"
    ).respond_with_data("", status=200)

    result = promote(sessions, jenkins(httpserver, mode="review"))

    assert (result.outcome, result.message) == (
        "dispatched",
        "proceeded input DeployProd of payments/api-deploy",
    )


def test_jenkins_input_already_given_is_a_clear_failure(
    sessions: sessionmaker[Session], httpserver: HTTPServer
) -> None:
    seed(sessions)
    build = "/jenkins/job/payments/job/api-deploy/lastBuild"
    httpserver.expect_request(f"{build}/wfapi/pendingInputActions").respond_with_json(
        [{"id": "DeployProd"}]
    )
    httpserver.expect_request(f"{build}/input/DeployProd/proceedEmpty").respond_with_data(
        "This input has been already given", status=400
    )

    result = promote(sessions, jenkins(httpserver, mode="review"))

    assert (result.outcome, result.message) == (
        "failed",
        "Jenkins refused the request (HTTP 400): This input has been already given",
    )
