"""Test data for release control: records stored through the real writer, and settings."""

from __future__ import annotations

import json
import tomllib
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from ingest.records import RECORD_ADAPTER
from ingest.writer import RecordWriter
from settings import Settings


def iso(value: datetime) -> str:
    return value.isoformat()


def store(sessions: sessionmaker[Session], *records: dict[str, Any]) -> None:
    """Validate `records` as NDJSON lines would be, and write them in one transaction."""
    with sessions.begin() as session:
        writer = RecordWriter(session)
        for record in records:
            writer.add(RECORD_ADAPTER.validate_json(json.dumps(record)))
        writer.flush()


def build(sha: str, status: str = "success", **fields: Any) -> dict[str, Any]:
    return {
        "type": "build",
        "id": fields.pop("id", f"b-{sha}-{status}"),
        "repo": "acme/api",
        "service": "api",
        "pipeline": "ci",
        "branch": "main",
        "sha": sha,
        "status": status,
        "started_at": "2026-03-09T10:00:00Z",
        "finished_at": "2026-03-09T10:10:00Z",
    } | fields


def case_result(build_id: str, name: str, outcome: str, attempt: int = 1) -> dict[str, Any]:
    return {
        "type": "test_case",
        "build_id": build_id,
        "suite": "tests.test_api",
        "classname": "TestApi",
        "name": name,
        "outcome": outcome,
        "attempt": attempt,
    }


def deployment(
    environment: str, version: str, sha: str, finished: datetime, **fields: Any
) -> dict[str, Any]:
    return {
        "type": "deployment",
        "id": fields.pop("id", f"d-{environment}-{version}-{finished:%H%M}"),
        "service": "api",
        "environment": environment,
        "sha": sha,
        "version": version,
        "status": "success",
        "started_at": iso(finished),
        "finished_at": iso(finished),
        "actor": "ci-bot",
    } | fields


def monitor(
    name: str, state: str, observed: datetime, value: float | None = None
) -> dict[str, Any]:
    return {
        "type": "monitor_state",
        "source": "datadog",
        "monitor": name,
        "service": "api",
        "state": state,
        "value": value,
        "observed_at": iso(observed),
    }


def incident(ident: str, severity: str, opened: datetime, **fields: Any) -> dict[str, Any]:
    return {
        "type": "incident",
        "id": ident,
        "service": "api",
        "severity": severity,
        "title": f"{severity} trouble",
        "opened_at": iso(opened),
    } | fields


def settings_from(toml: str, **overrides: Any) -> Settings:
    """Settings built from a TOML snippet, as the config file would give them."""
    return Settings(**(tomllib.loads(toml) | overrides))


def purge_audit(sessions: sessionmaker[Session]) -> None:
    """Empty the append-only audit log between tests, going around its triggers.

    PostgreSQL: replica mode skips user triggers (the test role is a superuser). SQLite
    has no such switch, so the triggers are dropped and recreated from their stored SQL.
    """
    with sessions.begin() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SET LOCAL session_replication_role = replica"))
            session.execute(text("DELETE FROM audit_events"))
            return
        triggers = session.execute(
            text(
                "SELECT name, sql FROM sqlite_master"
                " WHERE type = 'trigger' AND tbl_name = 'audit_events'"
            )
        ).all()
        for name, _ in triggers:
            session.execute(text(f'DROP TRIGGER "{name}"'))
        session.execute(text("DELETE FROM audit_events"))
        for _, sql in triggers:
            session.execute(text(sql))
