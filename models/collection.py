"""Collector bookkeeping: stream state and leases, runs, run-now requests, webhooks, HTTP cache.

A stream is identified by its key `connection:stream:scope` (e.g.
`github:workflow_runs:acme/api`); `collector_state` holds one row per key, and the other
tables refer to streams by that key.
"""

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
    """One run of one stream: when, how it ended, how many rows it wrote and skipped.

    `stream` is the stream key; `status` is running, success, failed, stopped or busy
    (another worker held the lease). `problems` lists the records or files skipped.
    """

    __tablename__ = "collector_runs"
    __table_args__ = (Index(None, "stream", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    stream: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20))
    rows: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    problems: Mapped[list[str] | None] = mapped_column(JSONValue)


class CollectRequest(Base):
    """A "run now" request from the Sources page; the worker claims and runs it."""

    __tablename__ = "collect_requests"
    __table_args__ = (Index(None, "claimed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    stream: Mapped[str] = mapped_column(String(200))
    requested_by: Mapped[str] = mapped_column(String(255))
    requested_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(255))


class WebhookDelivery(Base):
    """One webhook delivery, kept so that a redelivery (same id) is stored only once."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("connection", "delivery_id"),)
    natural_key = ("connection", "delivery_id")

    id: Mapped[int] = mapped_column(primary_key=True)
    connection: Mapped[str] = mapped_column(String(100))
    delivery_id: Mapped[str] = mapped_column(String(255))
    event: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[datetime]
    rows: Mapped[int] = mapped_column(Integer, default=0)
    payload: Mapped[Any] = mapped_column(JSONValue)


class HttpCacheEntry(Base):
    """The last 200 response of a conditional GET, replayed when the source answers 304.

    `key` hashes the connection, a fingerprint of its credential and the full URL, since
    responses vary by credential; the credential itself is never stored.
    """

    __tablename__ = "http_cache"
    natural_key = ("key",)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    url: Mapped[str] = mapped_column(Text)
    etag: Mapped[str | None] = mapped_column(String(255))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    next_url: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    fetched_at: Mapped[datetime]
