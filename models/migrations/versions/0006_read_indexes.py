"""Indexes for the dashboard's reads: pull requests by merge time.

Revision ID: 0006_read_indexes
Revises: 0001
Create Date: 2026-12-01 12:40:00

The Lead time page reads the pull requests merged in a window; without an index on
`merged_at` that is a scan of every pull request ever recorded.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006_read_indexes"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_pull_requests_merged_at", "pull_requests", ["merged_at"])


def downgrade() -> None:
    op.drop_index("ix_pull_requests_merged_at", table_name="pull_requests")
