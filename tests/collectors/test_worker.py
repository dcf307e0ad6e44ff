"""`python cli.py worker` as an operator runs it: schedules, "run now", a clean SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from pytest_httpserver import HTTPServer
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from collectors.status import request_run, stream_statuses
from models import CollectorRun, CollectRequest
from settings import PROJECT_ROOT
from tests.collectors.conftest import TOKEN
from tests.conftest import FIXTURES

REPO = "octo-org/octo-repo"
KEY = f"gh:workflow_runs:{REPO}"
WAIT_S = 60


def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Poll until `condition` holds; fail (not a timing assertion) if it never does."""
    deadline = threading.Event()
    for _ in range(int(WAIT_S / 0.1)):
        if condition():
            return
        deadline.wait(0.1)
    msg = f"gave up waiting for {what}"
    raise AssertionError(msg)


def runs(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return list(session.scalars(select(CollectorRun.status).order_by(CollectorRun.id)))


def test_the_worker_collects_runs_requests_and_stops_cleanly_on_sigterm(
    httpserver: HTTPServer, db_url: str, tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    page = json.loads((FIXTURES / "github" / "runs_page_2.json").read_text())
    httpserver.expect_request(f"/api/v3/repos/{REPO}/actions/runs").respond_with_json(page)
    config = tmp_path / "flightdeck.toml"
    config.write_text(
        f'[sources.gh]\nkind = "github"\nbase_url = "{httpserver.url_for("/api/v3")}"\n'
        f'token_env = "GH_TOKEN"\nscopes = ["{REPO}"]\nstreams = ["workflow_runs"]\n'
        "build_jobs = false\ninterval_minutes = 60\n"
    )
    env = os.environ | {
        "FLIGHTDECK_DATABASE_URL": db_url,
        "FLIGHTDECK_CONFIG": str(config),
        "GH_TOKEN": TOKEN,
    }
    worker = subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / "cli.py"), "worker", "--poll-seconds", "0.2"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: runs(sessions) == ["success"], "the scheduled first run")
        with sessions.begin() as session:
            assert request_run(session, KEY, "lee@acme.example", datetime.now(UTC))
            assert not request_run(session, KEY, "lee@acme.example", datetime.now(UTC))
        wait_for(lambda: runs(sessions) == ["success", "success"], "the requested run")

        worker.send_signal(signal.SIGTERM)
        _, stderr = worker.communicate(timeout=WAIT_S)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()

    assert worker.returncode == 0, stderr
    assert "stopped" in stderr
    assert TOKEN not in stderr
    with sessions() as session:
        request = session.scalars(select(CollectRequest)).one()
        [status] = stream_statuses(session, [(KEY, "runs")])
    assert request.claimed_at is not None
    # The second run re-wrote only the run at the watermark; the older one was unchanged.
    assert (status.last_status, status.last_rows, status.pending_request) == ("success", 1, False)
    assert status.last_success_at is not None
