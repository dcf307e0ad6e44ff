"""Each backend against a real local HTTP server, driven through the release actions.

The fake servers check what a real receiver would (the webhook's HMAC signature, GitHub's
headers and bodies); the tests assert the exact requests sent and how 4xx/5xx end.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Iterator

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy.orm import Session, sessionmaker
from werkzeug import Request, Response

from models import ReleaseAction
from releases import actions
from releases.actions import ActionResult
from releases.backends import http
from settings import Settings
from tests.releases.data import settings_from
from tests.releases.test_actions import ANA, BO, audit, current, seed

SECRET = "s3cret-for-tests"
GITHUB_TOKEN = "ghs_test_token"


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(http, "BACKOFF_SECONDS", 0.0)
    monkeypatch.setenv("FD_TEST_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("FD_TEST_GITHUB_TOKEN", GITHUB_TOKEN)
    yield


def webhook_settings(server: HTTPServer, retries: int = 2) -> Settings:
    return settings_from(
        '[[backends]]\nservice = "api"\nenvironment = "*"\nkind = "webhook"\n'
        f'url = "{server.url_for("/hooks")}"\nsecret_env = "FD_TEST_WEBHOOK_SECRET"\n'
        f"retries = {retries}\n"
    )


def github_settings(server: HTTPServer, mode: str = "dispatch") -> Settings:
    return settings_from(
        '[[backends]]\nservice = "api"\nenvironment = "production"\nkind = "github"\n'
        f'base_url = "{server.url_for("")}"\nrepo = "acme/api"\nworkflow = "deploy.yml"\n'
        f'token_env = "FD_TEST_GITHUB_TOKEN"\nmode = "{mode}"\nretries = 1\n'
    )


def roll_back(
    sessions: sessionmaker[Session], settings: Settings, key: str | None = None
) -> ActionResult:
    return actions.rollback(
        sessions,
        settings,
        actor=ANA,
        service="api",
        environment="production",
        target_version="1.0",
        expected_current_version="1.1",
        reason="errors up",
        idempotency_key=key or uuid.uuid4().hex,
        confirmation="api",
    )


def verified_receiver(status: int, body: dict[str, object]) -> Callable[[Request], Response]:
    """A webhook receiver that answers `status` only to correctly signed requests."""

    def handle(request: Request) -> Response:
        timestamp = request.headers["X-Flightdeck-Timestamp"]
        expected = (
            "sha256="
            + hmac.new(
                SECRET.encode(), timestamp.encode() + b"." + request.get_data(), hashlib.sha256
            ).hexdigest()
        )
        if not hmac.compare_digest(expected, request.headers["X-Signature-256"]):
            return Response(json.dumps({"error": "bad signature"}), 401)
        return Response(json.dumps(body), status, content_type="application/json")

    return handle


def test_webhook_rollback_sends_one_signed_request_per_key(
    sessions: sessionmaker[Session], httpserver: HTTPServer
) -> None:
    seed(sessions)
    httpserver.expect_request("/hooks/rollback", method="POST").respond_with_handler(
        verified_receiver(200, {"operation_url": "https://deploy.example/op/7"})
    )
    settings = webhook_settings(httpserver)

    first = roll_back(sessions, settings, key="key-1")
    again = roll_back(sessions, settings, key="key-1")

    assert (first.outcome, again.outcome, again.replayed) == ("succeeded", "succeeded", True)
    assert first.backend_ref == again.backend_ref == "https://deploy.example/op/7"
    assert len(httpserver.log) == 1
    request, response = httpserver.log[0]
    assert response.status_code == 200
    assert request.headers["Idempotency-Key"] == "key-1"
    assert json.loads(request.get_data()) == {
        "request_id": "key-1",
        "action": "rollback",
        "service": "api",
        "environment": "production",
        "target_version": "1.0",
        "sha": "aaaa0000",
        "expected_current_version": "1.1",
        "actor": ANA.name,
        "approvers": [],
        "reason": "errors up",
        "override": False,
    }
    # A real backend reports its own deployment; Flightdeck records none for it.
    assert current(sessions) == "1.1"
    assert audit(sessions)[-1].details["backend"] == "webhook"


def test_a_webhook_that_accepts_for_later_is_dispatched(
    sessions: sessionmaker[Session], httpserver: HTTPServer
) -> None:
    seed(sessions)
    httpserver.expect_request("/hooks/rollback").respond_with_handler(
        verified_receiver(202, {"operation_url": "https://deploy.example/op/8"})
    )

    result = roll_back(sessions, webhook_settings(httpserver))

    assert (result.outcome, result.backend_url) == ("dispatched", "https://deploy.example/op/8")


def test_a_webhook_conflict_fails_the_action_without_retrying_or_holding(
    sessions: sessionmaker[Session], httpserver: HTTPServer
) -> None:
    seed(sessions)
    httpserver.expect_request("/hooks/rollback").respond_with_json(
        {"message": "running 1.2, not 1.1"}, status=409
    )

    result = roll_back(sessions, webhook_settings(httpserver))

    assert result.outcome == "failed"
    assert result.message == (
        "webhook refused the request (HTTP 409): running 1.2, not 1.1; the receiver runs "
        "another version than expected (reload and retry)"
    )
    assert len(httpserver.log) == 1
    event = audit(sessions)[-1]
    assert (event.outcome, event.details.get("hold")) == ("failed", None)


def test_a_webhook_server_error_is_retried_then_fails(
    sessions: sessionmaker[Session], httpserver: HTTPServer
) -> None:
    seed(sessions)
    httpserver.expect_request("/hooks/rollback").respond_with_data("upstream down", status=503)

    result = roll_back(sessions, webhook_settings(httpserver, retries=2))

    assert (result.outcome, result.message) == (
        "failed",
        "webhook answered HTTP 503: upstream down, 3 attempts",
    )
    assert len(httpserver.log) == 3
    assert {request.headers["Idempotency-Key"] for request, _ in httpserver.log} == {result.key}


def test_a_missing_webhook_secret_fails_and_names_only_the_variable(
    sessions: sessionmaker[Session], httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(sessions)
    monkeypatch.delenv("FD_TEST_WEBHOOK_SECRET")

    result = roll_back(sessions, webhook_settings(httpserver))

    assert result.outcome == "failed"
    assert "$FD_TEST_WEBHOOK_SECRET, which is not set" in result.message
    assert httpserver.log == []


def test_a_wrongly_signed_webhook_is_refused_by_the_receiver(
    sessions: sessionmaker[Session], httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(sessions)
    monkeypatch.setenv("FD_TEST_WEBHOOK_SECRET", "the-wrong-secret")
    httpserver.expect_request("/hooks/rollback").respond_with_handler(verified_receiver(200, {}))

    result = roll_back(sessions, webhook_settings(httpserver))

    assert result.outcome == "failed"
    assert result.message.endswith("check the shared secret on both sides")
    assert "the-wrong-secret" not in json.dumps(audit(sessions)[-1].details)


def github_headers_ok(request: Request) -> bool:
    return (
        request.headers["Authorization"] == f"Bearer {GITHUB_TOKEN}"
        and request.headers["Accept"] == "application/vnd.github+json"
        and request.headers["X-GitHub-Api-Version"] == "2022-11-28"
    )


def test_github_rollback_dispatches_the_workflow_with_the_run_details(
    sessions: sessionmaker[Session], httpserver: HTTPServer
) -> None:
    seed(sessions)
    httpserver.expect_request(
        "/repos/acme/api/actions/workflows/deploy.yml/dispatches", method="POST"
    ).respond_with_json(
        {
            "workflow_run_id": 4242,
            "run_url": "https://api.github.com/repos/acme/api/actions/runs/4242",
            "html_url": "https://github.com/acme/api/actions/runs/4242",
        }
    )

    result = roll_back(sessions, github_settings(httpserver), key="gh-1")

    assert (result.outcome, result.backend_ref, result.backend_url) == (
        "dispatched",
        "4242",
        "https://github.com/acme/api/actions/runs/4242",
    )
    request, _ = httpserver.log[0]
    assert github_headers_ok(request)
    assert json.loads(request.get_data()) == {
        "ref": "main",
        "inputs": {
            "environment": "production",
            "version": "1.0",
            "action": "rollback",
            "request_id": "gh-1",
        },
        "return_run_details": True,
    }


def test_github_without_run_details_is_still_dispatched(
    sessions: sessionmaker[Session], httpserver: HTTPServer
) -> None:
    seed(sessions)
    httpserver.expect_request(
        "/repos/acme/api/actions/workflows/deploy.yml/dispatches", method="POST"
    ).respond_with_data("", status=204)

    result = roll_back(sessions, github_settings(httpserver))

    assert (result.outcome, result.backend_ref, result.message) == (
        "dispatched",
        None,
        "dispatched deploy.yml; production is now held",
    )


def test_github_refusing_the_dispatch_is_a_failure_that_says_why(
    sessions: sessionmaker[Session], httpserver: HTTPServer
) -> None:
    seed(sessions)
    httpserver.expect_request(
        "/repos/acme/api/actions/workflows/deploy.yml/dispatches", method="POST"
    ).respond_with_json({"message": 'Unexpected inputs provided: ["request_id"]'}, status=422)

    result = roll_back(sessions, github_settings(httpserver))

    assert (result.outcome, result.message) == (
        "failed",
        'GitHub refused the request (HTTP 422): Unexpected inputs provided: ["request_id"]',
    )
    assert GITHUB_TOKEN not in json.dumps([e.details for e in audit(sessions)])


def test_github_review_mode_approves_the_waiting_run_of_the_candidate(
    sessions: sessionmaker[Session], httpserver: HTTPServer
) -> None:
    seed(sessions)
    settings = github_settings(httpserver, mode="review")
    httpserver.expect_request(
        "/repos/acme/api/actions/runs",
        method="GET",
        query_string={"status": "waiting", "head_sha": "aaaa2222"},
    ).respond_with_json(
        {
            "total_count": 1,
            "workflow_runs": [
                {"id": 77, "html_url": "https://github.com/acme/api/actions/runs/77"}
            ],
        }
    )
    httpserver.expect_request(
        "/repos/acme/api/actions/runs/77/pending_deployments", method="GET"
    ).respond_with_json(
        [
            {"environment": {"id": 5, "name": "staging"}, "current_user_can_approve": True},
            {"environment": {"id": 9, "name": "Production"}, "current_user_can_approve": True},
        ]
    )
    httpserver.expect_request(
        "/repos/acme/api/actions/runs/77/pending_deployments", method="POST"
    ).respond_with_json([{"id": 1}])
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

    result = actions.promote(
        sessions,
        settings,
        actor=BO,
        request_id=asked.action_id or 0,
        expected_current_version="1.1",
        idempotency_key="promote-1",
    )

    assert (result.outcome, result.backend_ref) == ("dispatched", "77")
    review, _ = httpserver.log[-1]
    assert github_headers_ok(review)
    assert json.loads(review.get_data()) == {
        "environment_ids": [9],
        "state": "approved",
        "comment": f"Approved in Flightdeck by nobody; promoted by {BO.name} (request promote-1)",
    }


def test_github_review_with_nothing_waiting_fails(
    sessions: sessionmaker[Session], httpserver: HTTPServer
) -> None:
    seed(sessions)
    settings = github_settings(httpserver, mode="review")
    httpserver.expect_request("/repos/acme/api/actions/runs").respond_with_json(
        {"total_count": 0, "workflow_runs": []}
    )
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

    result = actions.promote(
        sessions,
        settings,
        actor=BO,
        request_id=asked.action_id or 0,
        expected_current_version="1.1",
        idempotency_key=uuid.uuid4().hex,
    )

    assert (result.outcome, result.message) == (
        "failed",
        "no GitHub run of aaaa2222 is waiting for production",
    )
    with sessions() as session:
        stored = session.get(ReleaseAction, asked.action_id)
        assert stored is not None and stored.state == "pending"  # it can be promoted later
