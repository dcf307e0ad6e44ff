"""Announcements in Slack and to a JSON webhook: once per action and outcome, never blocking."""

from __future__ import annotations

import json
import logging
import uuid

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy.orm import Session, sessionmaker

from releases import actions
from settings import Settings
from tests.releases.data import settings_from
from tests.releases.test_actions import ANA, audit, seed


def announcing(server: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("FD_TEST_SLACK_URL", server.url_for("/slack/T000/B000/secret-part"))
    monkeypatch.setenv("FD_TEST_HOOK_URL", server.url_for("/events"))
    return settings_from(
        '[[notifications]]\nkind = "slack"\nurl_env = "FD_TEST_SLACK_URL"\n'
        'app_url = "https://flightdeck.acme.example"\n'
        '[[notifications]]\nkind = "webhook"\nurl_env = "FD_TEST_HOOK_URL"\n'
        'actions = ["rollback"]\n'
    )


def roll_back(sessions: sessionmaker[Session], settings: Settings, key: str, reason: str) -> None:
    actions.rollback(
        sessions,
        settings,
        actor=ANA,
        service="api",
        environment="production",
        target_version="1.0",
        expected_current_version="1.1",
        reason=reason,
        idempotency_key=key,
        confirmation="api",
    )


def test_a_rollback_is_announced_once_with_a_link_back(
    sessions: sessionmaker[Session], httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(sessions)
    httpserver.expect_request("/slack/T000/B000/secret-part", method="POST").respond_with_data("ok")
    httpserver.expect_request("/events", method="POST").respond_with_data("", status=204)
    settings = announcing(httpserver, monkeypatch)

    roll_back(sessions, settings, "rb-1", "errors")
    roll_back(sessions, settings, "rb-1", "errors")  # a replay announces nothing
    roll_back(sessions, settings, "rb-2", "")  # refused: nothing to announce

    slack, hook = (json.loads(request.get_data()) for request, _ in httpserver.log)
    assert len(httpserver.log) == 2
    assert slack == {
        "text": (
            "api/production: rollback by ana@acme.example: recorded 1.0 (noop); production is now "
            "held (<https://flightdeck.acme.example/release_control|open in Flightdeck>)"
        )
    }
    assert (hook["action"], hook["outcome"], hook["request_id"]) == (
        "rollback",
        "succeeded",
        "rb-1",
    )
    assert httpserver.log[1][0].headers["Idempotency-Key"] == "rb-1:succeeded"


def test_a_failing_announcement_never_fails_the_action(
    sessions: sessionmaker[Session],
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    seed(sessions)
    caplog.set_level(logging.INFO)
    httpserver.expect_request("/slack/T000/B000/secret-part").respond_with_data("no", status=500)
    settings = announcing(httpserver, monkeypatch)

    held = actions.hold(
        sessions,
        actor=ANA,
        service="api",
        environment="staging",
        reason="flaky",
        idempotency_key=uuid.uuid4().hex,
        settings=settings,
    )

    assert held.outcome == "succeeded"
    assert audit(sessions)[-1].outcome == "succeeded"
    ours = [r.getMessage() for r in caplog.records if r.name != "werkzeug"]  # the fake's own
    assert "notification via $FD_TEST_SLACK_URL failed: HTTPStatusError" in ours
    assert [line for line in ours if "secret-part" in line] == []
