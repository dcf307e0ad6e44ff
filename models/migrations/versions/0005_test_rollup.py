"""Builds & tests rollups: finished builds and test cases summarised per UTC day.

Revision ID: 0005_test_rollup
Revises: 0001
Create Date: 2026-12-01 12:30:00

Derived tables only (`reports.test_rollup` fills them on the first page view or with the
full rebuild), so upgrading is instant and downgrading loses nothing that cannot be
recomputed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0005_test_rollup"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = models.base.UTCDateTime(timezone=True)
JSON = models.base.JSONValue


def upgrade() -> None:
    op.create_table(
        "rollup_state",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("test_case_id", sa.BigInteger(), nullable=False),
        sa.Column("build_id", sa.BigInteger(), nullable=False),
        sa.Column("test_case_tail", sa.BigInteger(), nullable=False),
        sa.Column("build_tail", sa.BigInteger(), nullable=False),
        sa.Column("pending", JSON, nullable=False),
        sa.Column("computed_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_rollup_state")),
    )
    op.create_table(
        "rollup_tests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("suite", sa.String(length=500), nullable=False),
        sa.Column("classname", sa.String(length=500), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollup_tests")),
        sa.UniqueConstraint(
            "suite", "classname", "name", name=op.f("uq_rollup_tests_suite_classname_name")
        ),
    )
    op.create_table(
        "build_rollups",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("service", sa.String(length=200), nullable=False),
        sa.Column("pipeline", sa.String(length=255), nullable=False),
        sa.Column("builds", sa.Integer(), nullable=False),
        sa.Column("succeeded", sa.Integer(), nullable=False),
        sa.Column("minutes", sa.LargeBinary(), nullable=False),
        sa.Column("last_build_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "service", "pipeline", name=op.f("pk_build_rollups")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "test_rollups",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("service", sa.String(length=200), nullable=False),
        sa.Column("pipeline", sa.String(length=255), nullable=False),
        sa.Column("test_id", sa.Integer(), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("flaky", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("timed", sa.Integer(), nullable=False),
        sa.Column("in_last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "day", "service", "pipeline", "test_id", name=op.f("pk_test_rollups")
        ),
        sqlite_with_rowid=False,
    )
    # Outside batch mode: a batch on SQLite may copy the table, and the copy would lose
    # WITHOUT ROWID.
    op.create_index(
        op.f("ix_test_rollups_test_id_day"), "test_rollups", ["test_id", "day"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_test_rollups_test_id_day"), table_name="test_rollups")
    op.drop_table("test_rollups")
    op.drop_table("build_rollups")
    op.drop_table("rollup_tests")
    op.drop_table("rollup_state")
