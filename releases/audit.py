"""The audit log, read back: filtered rows for the Audit page and its export."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import AuditEvent

# A page shows at most this many events; narrow the filters to see older ones.
AUDIT_LIMIT = 5000


@dataclass(frozen=True)
class AuditFilter:
    """Which events to show; empty fields match everything.

    Attributes:
        actor: Part of the acting user's name.
        actions: Action kinds (request, approve, ...).
        outcomes: Outcomes (succeeded, refused, ...).
        subject: Part of `service/environment`.
        since: Earliest event time (inclusive).
        until: Latest event time (exclusive).
    """

    actor: str = ""
    actions: tuple[str, ...] = ()
    outcomes: tuple[str, ...] = ()
    subject: str = ""
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class AuditRow:
    """One audit event, flattened for a table."""

    at: datetime
    actor: str
    action: str
    subject: str
    outcome: str
    target: str | None
    before: str | None
    after: str | None
    reason: str | None
    message: str | None
    details: dict[str, Any] = field(default_factory=dict)


def audit_rows(session: Session, wanted: AuditFilter) -> list[AuditRow]:
    """The newest events matching `wanted`, newest first (at most AUDIT_LIMIT)."""
    statement = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    if wanted.actor:
        statement = statement.where(AuditEvent.actor.ilike(f"%{wanted.actor}%"))
    if wanted.subject:
        statement = statement.where(AuditEvent.subject.ilike(f"%{wanted.subject}%"))
    if wanted.actions:
        statement = statement.where(AuditEvent.action.in_(wanted.actions))
    if wanted.outcomes:
        statement = statement.where(AuditEvent.outcome.in_(wanted.outcomes))
    if wanted.since:
        statement = statement.where(AuditEvent.at >= wanted.since)
    if wanted.until:
        statement = statement.where(AuditEvent.at < wanted.until)
    return [
        AuditRow(
            at=event.at,
            actor=event.actor,
            action=event.action,
            subject=event.subject,
            outcome=event.outcome,
            target=event.details.get("target_version"),
            before=event.details.get("before"),
            after=event.details.get("after"),
            reason=event.details.get("reason"),
            message=event.details.get("message"),
            details=event.details,
        )
        for event in session.scalars(statement.limit(AUDIT_LIMIT))
    ]
