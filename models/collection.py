"""Collector bookkeeping: each stream's cursor and lease, and a row per collector run."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, JSONValue


class CollectorState(Base):
    """Where a (connection, stream, scope) got to, and which worker holds it now."""

    __tablename__ = "collector_state"
    __table_args__ = (UniqueConstraint("connection", "stream", "scope"),)
    natural_key = ("connection", "stream", "scope")

    id: Mapped[int] = mapped_column(primary_key=True)
    connection: Mapped[str] = mapped_column(String(100))
    stream: Mapped[str] = mapped_column(String(100))
    scope: Mapped[str] = mapped_column(String(500))
    cursor: Mapped[dict[str, Any] | None] = mapped_column(JSONValue)
    lease_owner: Mapped[str | None] = mapped_column(String(255))
    lease_expires_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)


class CollectorRun(Base):
    """One run of one stream: when, how it ended, how many rows it wrote."""

    __tablename__ = "collector_runs"
    __table_args__ = (Index(None, "stream", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    stream: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20))
    rows: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
