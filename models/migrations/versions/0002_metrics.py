"""DORA engine: derived attribution tables, each shipped commit's lead time, and indexes.

Revision ID: 0002_metrics
Revises: 0001
Create Date: 2026-12-01 09:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0002_metrics"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("deployment_commits", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lead_time_us", sa.BigInteger(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_deployment_commits_deployment_id_lead_time_us"),
            ["deployment_id", "lead_time_us"],
            unique=False,
        )
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deployments_status"), ["status"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_deployments_source_updated_at"), ["source_updated_at"], unique=False
        )

    op.create_table(
        "attribution_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("profile", sa.String(length=16), nullable=False),
        sa.Column("scope", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.Text(), nullable=False),
        sa.Column("computed_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attribution_state")),
        sa.UniqueConstraint("profile", "scope", name=op.f("uq_attribution_state_profile_scope")),
    )
    op.create_table(
        "deployment_attributions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("profile", sa.String(length=16), nullable=False),
        sa.Column("deployment_id", sa.Integer(), nullable=False),
        sa.Column("service", sa.String(length=200), nullable=False),
        sa.Column("finished_at", UTC, nullable=False),
        sa.Column("label", sa.String(length=20), nullable=False),
        sa.Column("failed", sa.Boolean(), nullable=False),
        sa.Column("restored_at", UTC, nullable=True),
        sa.Column("recovery_us", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_deployment_attributions_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment_attributions")),
        sa.UniqueConstraint(
            "profile",
            "deployment_id",
            name=op.f("uq_deployment_attributions_profile_deployment_id"),
        ),
    )
    with op.batch_alter_table("deployment_attributions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deployment_attributions_profile_finished_at"),
            ["profile", "finished_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_deployment_attributions_profile_service_finished_at"),
            ["profile", "service", "finished_at"],
            unique=False,
        )
    op.create_table(
        "failure_causes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("profile", sa.String(length=16), nullable=False),
        sa.Column("deployment_id", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(length=20), nullable=False),
        sa.Column("cause_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_failure_causes_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_failure_causes")),
        sa.UniqueConstraint(
            "profile",
            "deployment_id",
            "rule",
            "cause_id",
            name=op.f("uq_failure_causes_profile_deployment_id_rule_cause_id"),
        ),
    )
    op.create_table(
        "incident_attributions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("profile", sa.String(length=16), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("service", sa.String(length=200), nullable=False),
        sa.Column("opened_at", UTC, nullable=False),
        sa.Column("resolved_at", UTC, nullable=True),
        sa.Column("restore_us", sa.BigInteger(), nullable=True),
        sa.Column("deployment_id", sa.Integer(), nullable=True),
        sa.Column("rule", sa.String(length=20), nullable=True),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_incident_attributions_deployment_id_deployments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_attributions_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_attributions")),
        sa.UniqueConstraint(
            "profile", "incident_id", name=op.f("uq_incident_attributions_profile_incident_id")
        ),
    )
    with op.batch_alter_table("incident_attributions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_incident_attributions_profile_deployment_id"),
            ["profile", "deployment_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_incident_attributions_profile_opened_at"),
            ["profile", "opened_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("incident_attributions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_attributions_profile_opened_at"))
        batch_op.drop_index(batch_op.f("ix_incident_attributions_profile_deployment_id"))
    op.drop_table("incident_attributions")
    op.drop_table("failure_causes")
    with op.batch_alter_table("deployment_attributions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deployment_attributions_profile_service_finished_at"))
        batch_op.drop_index(batch_op.f("ix_deployment_attributions_profile_finished_at"))
    op.drop_table("deployment_attributions")
    op.drop_table("attribution_state")
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deployments_source_updated_at"))
        batch_op.drop_index(batch_op.f("ix_deployments_status"))
    with op.batch_alter_table("deployment_commits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deployment_commits_deployment_id_lead_time_us"))
        batch_op.drop_column("lead_time_us")
