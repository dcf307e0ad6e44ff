"""Reconciling dispatched actions with their backends: final states stored and audited once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from models import ReleaseAction
from releases import actions
from releases.backends import http
from settings import Settings
from tests.releases.data import deployment, settings_from, store
from tests.releases.test_actions import ANA, T0, audit, seed


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "BACKOFF_SECONDS", 0.0)
    monkeypatch.setenv("FD_TEST_GITHUB_TOKEN", "ghs_test")
    monkeypatch.setenv("FD_TEST_WEBHOOK_SECRET", "s3cret")


def github(server: HTTPServer) -> Settings:
    return settings_from(
        '[[backends]]\nservice = "api"\nenvironment = "production"\nkind = "github"\n'
        f'base_url = "{server.url_for("")}"\nrepo = "acme/api"\nworkflow = "deploy.yml"\n'
        'token_env = "FD_TEST_GITHUB_TOKEN"\n'
        '[[backends]]\nservice = "api"\nenvironment = "staging"\nkind = "webhook"\n'
        f'url = "{server.url_for("/hooks")}"\nsecret_env = "FD_TEST_WEBHOOK_SECRET"\n'
    )


def test_finished_runs_are_settled_once_and_running_ones_left_alone(
    sessions: sessionmaker[Session], httpserver: HTTPServer
) -> None:
    seed(sessions)
    settings = github(httpserver)
    httpserver.expect_request(
        "/repos/acme/api/actions/workflows/deploy.yml/dispatches"
    ).respond_with_json({"workflow_run_id": 11, "html_url": "https://github.com/run/11"})
    httpserver.expect_request("/hooks/rollback").respond_with_json(
        {"operation_url": httpserver.url_for("/ops/7")}, status=202
    )
    rolled = actions.rollback(
        sessions,
        settings,
        actor=ANA,
        service="api",
        environment="production",
        target_version="1.0",
        expected_current_version="1.1",
        reason="errors",
        idempotency_key="gh-run",
        confirmation="api",
    )
    store(sessions, deployment("staging", "1.3", "aaaa3333", T0 + timedelta(days=2, hours=1)))
    staged = actions.rollback(
        sessions,
        settings,
        actor=ANA,
        service="api",
        environment="staging",
        target_version="1.2",
        expected_current_version="1.3",
        reason="flaky",
        idempotency_key="hook-op",
    )
    assert (rolled.outcome, staged.outcome) == ("dispatched", "dispatched")
    httpserver.expect_oneshot_request("/repos/acme/api/actions/runs/11").respond_with_json(
        {"id": 11, "status": "completed", "conclusion": "failure"}
    )
    httpserver.expect_oneshot_request("/ops/7").respond_with_json({"state": "in_progress"})

    first = actions.reconcile(sessions, settings)
    httpserver.expect_request("/ops/7").respond_with_json({"state": "succeeded"})
    second = actions.reconcile(sessions, settings)
    third = actions.reconcile(sessions, settings)

    assert [(r.key, r.outcome) for r in first] == [("gh-run", "failed")]
    assert [(r.key, r.outcome) for r in second] == [("hook-op", "succeeded")]
    assert third == []
    with sessions() as session:
        states = {a.idempotency_key: a.state for a in session.scalars(select(ReleaseAction))}
    assert (states["gh-run"], states["hook-op"]) == ("failed", "succeeded")
    reconciled = [e for e in audit(sessions) if e.action == "reconcile"]
    assert [(e.actor, e.subject, e.outcome) for e in reconciled] == [
        ("flightdeck", "api/production", "failed"),
        ("flightdeck", "api/staging", "succeeded"),
    ]
    assert reconciled[0].details["message"] == "rollback of 1.0 failed (github)"
