"""Release control: lock/hold rows per environment, request links, append-only audit log.

Revision ID: 0004_releases
Revises: 0001
Create Date: 2026-12-01 09:05:00

The audit log is made append-only in the database itself, so no code path (ours or a
hand-typed SQL session through the app's credentials) can rewrite history: UPDATE and
DELETE on `audit_events` raise. Dropping the table (a downgrade) removes the triggers.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0004_releases"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = "audit_events is append-only: rows are never updated or deleted"

SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events
    BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"""
    for verb in ("UPDATE", "DELETE")
]
POSTGRES_FUNCTION = f"""CREATE FUNCTION audit_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{APPEND_ONLY}';
END;
$$"""
POSTGRES_TRIGGER = """CREATE TRIGGER audit_events_append_only
BEFORE UPDATE OR DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"""


def upgrade() -> None:
    op.create_table(
        "release_environments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service", sa.String(length=200), nullable=False),
        sa.Column("environment", sa.String(length=100), nullable=False),
        sa.Column("locked_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("held_by", sa.String(length=255), nullable=True),
        sa.Column("held_since", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("hold_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_release_environments")),
        sa.UniqueConstraint(
            "service", "environment", name=op.f("uq_release_environments_service_environment")
        ),
    )
    with op.batch_alter_table("release_actions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("from_environment", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("request_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("backend_url", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("message", sa.Text(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_release_actions_request_id_release_actions"),
            "release_actions",
            ["request_id"],
            ["id"],
        )
        batch_op.create_index(
            batch_op.f("ix_release_actions_request_id"), ["request_id"], unique=False
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRES_FUNCTION)
        op.execute(POSTGRES_TRIGGER)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION audit_events_append_only()")
    else:
        op.execute("DROP TRIGGER audit_events_no_update")
        op.execute("DROP TRIGGER audit_events_no_delete")
    with op.batch_alter_table("release_actions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_release_actions_request_id"))
        batch_op.drop_constraint(
            batch_op.f("fk_release_actions_request_id_release_actions"), type_="foreignkey"
        )
        batch_op.drop_column("message")
        batch_op.drop_column("backend_url")
        batch_op.drop_column("request_id")
        batch_op.drop_column("from_environment")
    op.drop_table("release_environments")
