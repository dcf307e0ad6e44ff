"""Operations signals: incidents and monitor states (Datadog monitors and SLOs, error rates)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class Incident(Base):
    """An incident; `deployment`, `root_cause_sha` and `version` are the source's link hints.

    A NULL `environment` means production (DESIGN §3).
    """

    __tablename__ = "incidents"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        Index(None, "service", "opened_at"),
    )
    natural_key = ("source", "external_id")
    update_time = "source_updated_at"

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(100))
    external_id: Mapped[str] = mapped_column(String(255))
    service: Mapped[str] = mapped_column(String(200))
    environment: Mapped[str | None] = mapped_column(String(100))
    severity: Mapped[str | None] = mapped_column(String(50))
    title: Mapped[str | None] = mapped_column(Text)
    opened_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20))
    deployment: Mapped[str | None] = mapped_column(String(255))
    root_cause_sha: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[str | None] = mapped_column(String(255))
    url: Mapped[str | None] = mapped_column(Text)
    source_updated_at: Mapped[datetime | None]


class MonitorState(Base):
    """One observation of a monitor, SLO or error-rate series for a service."""

    __tablename__ = "monitor_states"
    __table_args__ = (
        UniqueConstraint("source", "monitor", "observed_at"),
        Index(None, "service", "observed_at"),
    )
    natural_key = ("source", "monitor", "observed_at")

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(100))
    monitor: Mapped[str] = mapped_column(String(255))
    observed_at: Mapped[datetime]
    service: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(10))
    value: Mapped[float | None] = mapped_column(Float)
    url: Mapped[str | None] = mapped_column(Text)
