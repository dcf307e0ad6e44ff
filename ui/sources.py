"""The Sources page's queries: every configured stream's status, and filing "run now".

Statuses are cached briefly; filing a request is not cached and never runs a collector
here: the worker (`python cli.py worker`) picks the request up within seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import streamlit as st

from collectors.status import StreamStatus, request_run, stream_statuses
from collectors.streams import configured_streams
from releases.roles import Actor
from ui.context import database_errors, sessions, settings_or_stop

CACHE_SECONDS = 10


@dataclass(frozen=True)
class SourceRow:
    """One line of the Sources table, ready to show."""

    stream: str
    collects: str
    status: str
    last_success: str
    lag: str
    rows: str
    last_error: str


def _ago(then: datetime | None, now: datetime) -> str:
    if then is None:
        return "never"
    minutes = int((now - then).total_seconds() // 60)
    if minutes < 1:
        return "just now"
    if minutes < 120:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // (24 * 60)} days"


def _status_word(status: StreamStatus) -> str:
    if status.pending_request:
        return "run requested"
    if status.last_status is None:
        return "not run yet"
    if status.last_error:
        failures = status.consecutive_failures
        return f"failing ({failures} in a row)" if failures > 1 else "failed"
    return {"success": "ok", "stopped": "stopped", "running": "running"}.get(
        status.last_status, status.last_status
    )


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)
def source_rows() -> list[SourceRow]:
    """Every configured stream, in config order, with its last run and error.

    Raises:
        DatabaseUnavailable: The database cannot be reached or is not migrated.
    """
    streams = [(s.key, s.spec.description) for s in configured_streams(settings_or_stop())]
    with database_errors(), sessions()() as session:
        statuses = stream_statuses(session, streams)
    now = datetime.now(UTC)
    return [
        SourceRow(
            stream=status.key,
            collects=status.description,
            status=_status_word(status),
            last_success=f"{status.last_success_at:%Y-%m-%d %H:%M} UTC"
            if status.last_success_at
            else "never",
            lag=_ago(status.last_success_at, now),
            rows="" if status.last_rows is None else f"{status.last_rows:,}",
            last_error=status.last_error or "",
        )
        for status in statuses
    ]


def can_run_now(actor: Actor) -> bool:
    """Only admins start collections from the app."""
    return actor.role == "admin"


def run_now(actor: Actor, stream: str) -> bool:
    """File a "run now" request for `stream` (admins only).

    Returns:
        True when filed, False when one was already waiting.

    Raises:
        PermissionError: The user is not an admin.
        DatabaseUnavailable: The database cannot be reached.
    """
    if not can_run_now(actor):
        msg = f"{actor.name} ({actor.role}) may not start collections; admins can"
        raise PermissionError(msg)
    with database_errors(), sessions().begin() as session:
        filed = request_run(session, stream, actor.name, datetime.now(UTC))
    source_rows.clear()
    return filed
