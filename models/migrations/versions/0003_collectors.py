"""Collectors: run counts of skipped records, run-now requests, webhook deliveries, HTTP cache.

Revision ID: 0003_collectors
Revises: 0001
Create Date: 2026-12-01 09:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base
from sqlalchemy.dialects import postgresql

revision: str = "0003_collectors"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
UTC = models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("collector_runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("skipped", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("problems", JSON, nullable=True))
    # The server default only fills existing rows; the model supplies the value from now on.
    with op.batch_alter_table("collector_runs", schema=None) as batch_op:
        batch_op.alter_column("skipped", server_default=None)

    op.create_table(
        "collect_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stream", sa.String(length=200), nullable=False),
        sa.Column("requested_by", sa.String(length=255), nullable=False),
        sa.Column("requested_at", UTC, nullable=False),
        sa.Column("claimed_at", UTC, nullable=True),
        sa.Column("claimed_by", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collect_requests")),
    )
    with op.batch_alter_table("collect_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_collect_requests_claimed_at"), ["claimed_at"], unique=False
        )

    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection", sa.String(length=100), nullable=False),
        sa.Column("delivery_id", sa.String(length=255), nullable=False),
        sa.Column("event", sa.String(length=100), nullable=False),
        sa.Column("received_at", UTC, nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint(
            "connection", "delivery_id", name=op.f("uq_webhook_deliveries_connection_delivery_id")
        ),
    )

    op.create_table(
        "http_cache",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("etag", sa.String(length=255), nullable=True),
        sa.Column("last_modified", sa.String(length=100), nullable=True),
        sa.Column("next_url", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("fetched_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_http_cache")),
        sa.UniqueConstraint("key", name=op.f("uq_http_cache_key")),
    )


def downgrade() -> None:
    op.drop_table("http_cache")
    op.drop_table("webhook_deliveries")
    with op.batch_alter_table("collect_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_collect_requests_claimed_at"))
    op.drop_table("collect_requests")
    with op.batch_alter_table("collector_runs", schema=None) as batch_op:
        batch_op.drop_column("problems")
        batch_op.drop_column("skipped")
