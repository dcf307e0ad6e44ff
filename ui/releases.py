"""The Releases and Audit pages' one door to release control: reads and actions.

Each function opens its own session (release state is never cached: a captain must see
what is true now), calls `releases`, and returns plain data. Idempotency keys come from
`intent_key`: the same user's same intent in this browser session (the page decides what
an intent includes, e.g. the environment's revision on screen) gets the same key, so a
double click or a rerun is one effect.
"""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
from datetime import UTC, datetime

import streamlit as st

from errors import DatabaseUnavailable
from releases import actions
from releases.actions import ActionResult
from releases.audit import AuditFilter, AuditRow, audit_rows
from releases.board import EnvironmentBoard, PendingRequest, release_board
from releases.board import services as board_services
from releases.gates import GateEvaluation, evaluate, target_for
from releases.roles import Actor
from ui.context import database_errors, sessions, settings_or_stop

__all__ = [
    "ActionResult",
    "AuditFilter",
    "AuditRow",
    "EnvironmentBoard",
    "GateEvaluation",
    "PendingRequest",
]

_NONCE_KEY = "release_session_nonce"


def intent_key(actor: Actor, action: str, *parts: object) -> str:
    """An idempotency key for one user's one intent on one screen of this session."""
    nonce = st.session_state.setdefault(_NONCE_KEY, uuid.uuid4().hex)
    text = "\x1f".join([nonce, actor.name, action, *(str(part) for part in parts)])
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def services() -> list[str]:
    """Services with a catalog entry or stored deployments.

    Raises:
        DatabaseUnavailable: The database cannot be read.
    """
    with database_errors(), sessions()() as session:
        return board_services(session, settings_or_stop())


def board(service: str) -> list[EnvironmentBoard]:
    """The service's environments with running versions, holds, freezes and requests.

    Raises:
        DatabaseUnavailable: The database cannot be read.
    """
    with database_errors(), sessions()() as session:
        return release_board(session, settings_or_stop(), service, datetime.now(UTC))


def preview_gate(service: str, environment: str, version: str) -> GateEvaluation | None:
    """The gate for running `version` in the environment now (a rollback's evidence).

    Returns None when the evidence cannot be read: a rollback must never wait on its gate.
    """
    settings = settings_or_stop()
    try:
        with database_errors(), sessions()() as session:
            target = target_for(session, settings, service, environment, version)
            return evaluate(session, settings, target, datetime.now(UTC))
    except DatabaseUnavailable:
        return None


def request_promotion(
    actor: Actor, service: str, environment: str, version: str, current: str | None, key: str
) -> ActionResult:
    """Ask for `version` to go into `environment` (`current` is what the screen showed)."""
    return actions.request_promotion(
        sessions(),
        settings_or_stop(),
        actor=actor,
        service=service,
        environment=environment,
        version=version,
        expected_current_version=current,
        idempotency_key=key,
    )


def approve(actor: Actor, request_id: int, comment: str | None, key: str) -> ActionResult:
    """Approve a pending request."""
    return actions.approve(
        sessions(),
        actor=actor,
        request_id=request_id,
        idempotency_key=key,
        comment=comment,
        settings=settings_or_stop(),
    )


def reject(actor: Actor, request_id: int, comment: str | None, key: str) -> ActionResult:
    """Reject a pending request."""
    return actions.reject(
        sessions(),
        actor=actor,
        request_id=request_id,
        idempotency_key=key,
        comment=comment,
        settings=settings_or_stop(),
    )


def promote(
    actor: Actor, request_id: int, current: str | None, key: str, override: str | None = None
) -> ActionResult:
    """Promote an approved request (an admin may pass an override reason)."""
    return actions.promote(
        sessions(),
        settings_or_stop(),
        actor=actor,
        request_id=request_id,
        expected_current_version=current,
        idempotency_key=key,
        override_reason=override,
    )


def rollback(
    actor: Actor,
    service: str,
    environment: str,
    target: str,
    current: str | None,
    reason: str | None,
    confirmation: str | None,
    key: str,
) -> ActionResult:
    """Roll back to the chosen earlier version (and hold the environment)."""
    return actions.rollback(
        sessions(),
        settings_or_stop(),
        actor=actor,
        service=service,
        environment=environment,
        target_version=target,
        expected_current_version=current,
        reason=reason,
        idempotency_key=key,
        confirmation=confirmation,
    )


def set_hold(
    actor: Actor, service: str, environment: str, held: bool, reason: str | None, key: str
) -> ActionResult:
    """Hold (`held`) or unhold the environment."""
    change = actions.hold if held else actions.unhold
    return change(
        sessions(),
        actor=actor,
        service=service,
        environment=environment,
        reason=reason,
        idempotency_key=key,
        settings=settings_or_stop(),
    )


def audit(wanted: AuditFilter) -> list[AuditRow]:
    """Audit events matching the filter, newest first.

    Raises:
        DatabaseUnavailable: The database cannot be read.
    """
    with database_errors(), sessions()() as session:
        return audit_rows(session, wanted)


AUDIT_COLUMNS = (
    "at",
    "actor",
    "action",
    "subject",
    "outcome",
    "target",
    "before",
    "after",
    "reason",
    "message",
)


def audit_table(rows: list[AuditRow]) -> list[dict[str, object]]:
    """Rows for `st.dataframe`, one per event."""
    return [{column: getattr(row, column) for column in AUDIT_COLUMNS} for row in rows]


def audit_csv(rows: list[AuditRow]) -> bytes:
    """The events as CSV (UTF-8, ISO times), the audit page's export."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(AUDIT_COLUMNS)
    for row in rows:
        values = [getattr(row, column) for column in AUDIT_COLUMNS]
        writer.writerow([v.isoformat() if isinstance(v, datetime) else v for v in values])
    return buffer.getvalue().encode()
