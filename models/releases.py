"""Release control records: release actions, per-environment state, the append-only audit log.

`release_environments` has one row per (service, environment) that Flightdeck has acted
on. Every release action locks that row first, so actions on one environment run one at a
time across processes; the row also carries the environment's hold. `audit_events` is
append-only: migration 0004 adds triggers that refuse UPDATE and DELETE on both databases.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, JSONValue


class ReleaseAction(Base):
    """One release action and its outcome, stored under the caller's idempotency key.

    `kind` is request / approve / reject / promote / rollback / hold / unhold. A promotion
    request (`kind = request`) stays `pending` until it is promoted, rejected or
    superseded; approvals, rejections and the promotion point at it through `request_id`.
    """

    __tablename__ = "release_actions"
    __table_args__ = (
        Index(None, "service", "environment", "created_at"),
        Index(None, "request_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    service: Mapped[str] = mapped_column(String(200))
    environment: Mapped[str] = mapped_column(String(100))
    from_environment: Mapped[str | None] = mapped_column(String(100))
    target_version: Mapped[str | None] = mapped_column(String(255))
    expected_current_version: Mapped[str | None] = mapped_column(String(255))
    request_id: Mapped[int | None] = mapped_column(ForeignKey("release_actions.id"))
    state: Mapped[str] = mapped_column(String(20))
    backend: Mapped[str | None] = mapped_column(String(50))
    backend_ref: Mapped[str | None] = mapped_column(Text)
    backend_url: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(255))
    reason: Mapped[str | None] = mapped_column(Text)
    gate_evidence: Mapped[dict[str, Any] | None] = mapped_column(JSONValue)
    message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    error: Mapped[str | None] = mapped_column(Text)


class ReleaseEnvironment(Base):
    """The lock row of one (service, environment), and its hold when it is held."""

    __tablename__ = "release_environments"
    __table_args__ = (UniqueConstraint("service", "environment"),)
    natural_key = ("service", "environment")

    id: Mapped[int] = mapped_column(primary_key=True)
    service: Mapped[str] = mapped_column(String(200))
    environment: Mapped[str] = mapped_column(String(100))
    locked_at: Mapped[datetime]
    held_by: Mapped[str | None] = mapped_column(String(255))
    held_since: Mapped[datetime | None]
    hold_reason: Mapped[str | None] = mapped_column(Text)


class AuditEvent(Base):
    """Who did what, when, to what, and how it ended. Rows are only ever inserted."""

    __tablename__ = "audit_events"
    __table_args__ = (Index(None, "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(50))
    subject: Mapped[str] = mapped_column(String(500))
    outcome: Mapped[str] = mapped_column(String(20))
    details: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
