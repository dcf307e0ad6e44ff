"""`python cli.py gate` as a CI step runs it: the evaluation printed, exit 1 unless it passes."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from releases import actions
from tests.releases.data import build, deployment, settings_from, store
from tests.releases.test_actions import ANA, BO
from tests.test_cli import run_cli

POLICY = """
[services.api]
repos = ["acme/api"]

[[gates]]
service = "api"
environment = "production"
approvals = 1
[gates.checks]
builds_green = {}
soak = { minutes = 30 }
"""


def test_gate_passes_once_approved_and_prints_json(
    sessions: sessionmaker[Session], db_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "flightdeck.toml"
    config.write_text(POLICY)
    now = datetime.now(UTC)
    store(
        sessions,
        build("bbbb2222"),
        deployment("production", "1.1", "aaaa1111", now - timedelta(days=1)),
        deployment("staging", "1.2", "bbbb2222", now - timedelta(hours=2)),
    )

    waiting = run_cli("gate", "api", "production", "--version", "1.2", db_url=db_url, config=config)
    asked = actions.request_promotion(
        sessions,
        settings_from(POLICY),
        actor=ANA,
        service="api",
        environment="production",
        version="1.2",
        expected_current_version="1.1",
        idempotency_key=uuid.uuid4().hex,
    )
    actions.approve(sessions, actor=BO, request_id=asked.action_id or 0, idempotency_key="a1")
    approved = run_cli(
        "gate", "api", "production", "--version", "1.2", "--json", db_url=db_url, config=config
    )

    assert waiting.returncode == 1
    lines = waiting.stdout.splitlines()
    assert lines[0].startswith("api 1.2 (bbbb2222) -> production: needs_human (evaluated ")
    assert lines[1] == "  pass        builds_green (blocking): 1 pipelines green"
    # The minutes soaked depend on when the command runs; only the verdict is fixed.
    assert re.fullmatch(r"  pass        soak \(blocking\): soaked \d+ min in staging", lines[2])
    assert lines[3:] == ["  needs_human approvals (blocking): 0 of 1 approvals"]
    assert approved.returncode == 0, approved.stderr
    evaluation = json.loads(approved.stdout)
    assert evaluation["verdict"] == "pass"
    assert [(c["name"], c["status"], c["mode"]) for c in evaluation["checks"]] == [
        ("builds_green", "pass", "blocking"),
        ("soak", "pass", "blocking"),
        ("approvals", "pass", "blocking"),
    ]
    assert evaluation["checks"][2]["evidence"]["approvers"] == [BO.name]


def test_gate_fails_on_a_failed_build(
    sessions: sessionmaker[Session], db_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "flightdeck.toml"
    config.write_text(POLICY.replace("approvals = 1", "approvals = 0"))
    store(sessions, build("cccc3333", "failure"))

    result = run_cli(
        "gate",
        "api",
        "production",
        "--version",
        "1.3",
        "--sha",
        "cccc3333",
        "--json",
        db_url=db_url,
        config=config,
    )

    assert result.returncode == 1
    assert json.loads(result.stdout)["verdict"] == "fail"


def test_gate_with_a_bad_config_says_so_in_one_line(db_url: str, tmp_path: Path) -> None:
    config = tmp_path / "flightdeck.toml"
    config.write_text('[[gates]]\nservice = "api"\n')

    result = run_cli("gate", "api", "production", "--version", "1", db_url=db_url, config=config)

    assert result.returncode == 1
    assert result.stderr.startswith("error: invalid configuration")
    assert "gates.0.environment: Field required" in result.stderr
