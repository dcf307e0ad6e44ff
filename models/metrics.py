"""Derived DORA tables: what `metrics.attribution` works out once, so metric queries stay cheap.

Everything here is recomputable from the normalized tables (`python cli.py recompute`).
Rows are keyed by an attribution *profile*: a short hash of the settings that change the
answer (production environments, hotfix patterns, attribution window), so the default
view and an `--environment staging` view never overwrite each other. The commits each
deployment shipped (`deployment_commits`) do not depend on those settings and carry no
profile.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base

PROFILE_LENGTH = 16


class DeploymentAttribution(Base):
    """One successful production deployment as the DORA engine sees it (DESIGN §4).

    Attributes:
        label: `normal`, `rollback`, `redeploy` or `hotfix` (explicit kind or inferred).
        failed: It is a failed deployment (rollback, hotfix or incident rule).
        restored_at: When service was restored after it failed; NULL if not (yet).
        recovery_us: `restored_at - finished_at` in microseconds, NULL when unrestored.
    """

    __tablename__ = "deployment_attributions"
    __table_args__ = (
        UniqueConstraint("profile", "deployment_id"),
        Index(None, "profile", "finished_at"),
        Index(None, "profile", "service", "finished_at"),
    )
    natural_key = ("profile", "deployment_id")

    id: Mapped[int] = mapped_column(primary_key=True)
    profile: Mapped[str] = mapped_column(String(PROFILE_LENGTH))
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"))
    service: Mapped[str] = mapped_column(String(200))
    finished_at: Mapped[datetime]
    label: Mapped[str] = mapped_column(String(20))
    failed: Mapped[bool] = mapped_column(Boolean)
    restored_at: Mapped[datetime | None]
    recovery_us: Mapped[int | None] = mapped_column(BigInteger)


class IncidentAttribution(Base):
    """One production incident and the deployment it is linked to, if any.

    Attributes:
        deployment_id: The linked deployment; NULL for an unattributed incident.
        rule: The rule that made the link: `deployment_id`, `root_cause_sha`, `version` or
            `time_window`; NULL when unattributed.
        restore_us: `resolved_at - opened_at` in microseconds, NULL while unresolved.
    """

    __tablename__ = "incident_attributions"
    __table_args__ = (
        UniqueConstraint("profile", "incident_id"),
        Index(None, "profile", "opened_at"),
        Index(None, "profile", "deployment_id"),
    )
    natural_key = ("profile", "incident_id")

    id: Mapped[int] = mapped_column(primary_key=True)
    profile: Mapped[str] = mapped_column(String(PROFILE_LENGTH))
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    service: Mapped[str] = mapped_column(String(200))
    opened_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    restore_us: Mapped[int | None] = mapped_column(BigInteger)
    deployment_id: Mapped[int | None] = mapped_column(
        ForeignKey("deployments.id", ondelete="SET NULL")
    )
    rule: Mapped[str | None] = mapped_column(String(20))


class FailureCause(Base):
    """Why a deployment failed: one row per rollback, hotfix or incident that failed it.

    Attributes:
        rule: `rollback` or `hotfix` (`cause_id` is that deployment's id) or `incident`
            (`cause_id` is the incident's id).
    """

    __tablename__ = "failure_causes"
    __table_args__ = (UniqueConstraint("profile", "deployment_id", "rule", "cause_id"),)
    natural_key = ("profile", "deployment_id", "rule", "cause_id")

    id: Mapped[int] = mapped_column(primary_key=True)
    profile: Mapped[str] = mapped_column(String(PROFILE_LENGTH))
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"))
    rule: Mapped[str] = mapped_column(String(20))
    cause_id: Mapped[int] = mapped_column(BigInteger)


class AttributionState(Base):
    """What the derived rows of a profile were computed from, per service.

    `scope` is a service name, or `*` for the whole database; `fingerprint` summarises
    the source rows at the time, so a refresh recomputes only services whose data changed.
    """

    __tablename__ = "attribution_state"
    __table_args__ = (UniqueConstraint("profile", "scope"),)
    natural_key = ("profile", "scope")

    id: Mapped[int] = mapped_column(primary_key=True)
    profile: Mapped[str] = mapped_column(String(PROFILE_LENGTH))
    scope: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(Text)
    computed_at: Mapped[datetime]
