"""The rows behind each number: what a page shows when a manager clicks a metric.

Each function takes the same `Filters` as `dora_summary` and returns exactly the records
that summary counted, newest first: the deployments (frequency, fail rate, rework), the
lead-time samples with their commit and deployment, the failed deployments with why they
failed and what restored them, and the production incidents (all of them, or only the
unattributed ones). Like the summary, each refreshes the derived tables first.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, aliased

from metrics.attribution import REMEDIATIONS
from metrics.derived import prepare
from metrics.scope import Filters, Scope
from models import (
    Commit,
    Deployment,
    DeploymentAttribution,
    DeploymentCommit,
    FailureCause,
    Incident,
    IncidentAttribution,
)


def _hours(us: int | None) -> float | None:
    return None if us is None else us / 10**6 / 3600


@dataclass(frozen=True)
class DeploymentRow:
    """A production deployment counted by the summary."""

    id: int
    source: str
    external_id: str
    service: str
    environment: str
    version: str | None
    sha: str | None
    finished_at: datetime
    label: str
    failed: bool
    restored_at: datetime | None
    url: str | None


@dataclass(frozen=True)
class LeadTimeSample:
    """One lead-time sample: a commit and the deployment that first shipped it."""

    deployment_id: int
    deployment: str
    service: str
    repo: str
    sha: str
    author: str | None
    message: str | None
    authored_at: datetime
    finished_at: datetime
    hours: float


@dataclass(frozen=True)
class FailureReason:
    """Why a deployment failed: the rule and the remediation deployment or incident."""

    rule: str
    source: str
    external_id: str
    at: datetime | None


@dataclass(frozen=True)
class FailedDeployment:
    """A failed deployment, its reasons, and its recovery (None: not yet restored)."""

    deployment: DeploymentRow
    reasons: tuple[FailureReason, ...]
    recovery_hours: float | None


@dataclass(frozen=True)
class IncidentRow:
    """A production incident, with the deployment it is linked to and the rule used."""

    id: int
    source: str
    external_id: str
    service: str
    environment: str | None
    severity: str | None
    title: str | None
    opened_at: datetime
    resolved_at: datetime | None
    restore_hours: float | None
    deployment: str | None
    rule: str | None
    url: str | None


def _deployment_rows(scope: Scope) -> Select[Deployment, DeploymentAttribution]:
    table = DeploymentAttribution
    return (
        select(Deployment, table)
        .join(table, table.deployment_id == Deployment.id)
        .where(table.profile == scope.profile, *scope.conditions(table.service, table.finished_at))
        .order_by(table.finished_at.desc(), Deployment.id.desc())
    )


def _row(deployment: Deployment, facts: DeploymentAttribution) -> DeploymentRow:
    return DeploymentRow(
        deployment.id,
        deployment.source,
        deployment.external_id,
        deployment.service,
        deployment.environment,
        deployment.version,
        deployment.sha,
        facts.finished_at,
        facts.label,
        facts.failed,
        facts.restored_at,
        deployment.url,
    )


def deployments(
    session: Session,
    filters: Filters,
    *,
    rework: bool = False,
    limit: int | None = None,
    now: datetime | None = None,
) -> list[DeploymentRow]:
    """The production deployments behind frequency, fail rate and rework rate.

    Args:
        session: An open session.
        filters: As for `dora_summary`.
        rework: Only the rework rate's remediations (rollbacks and hotfixes).
        limit: At most this many, the newest.
        now: The current time, for the default window.
    """
    statement = _deployment_rows(prepare(session, filters, now=now)).limit(limit)
    if rework:
        statement = statement.where(DeploymentAttribution.label.in_(sorted(REMEDIATIONS)))
    return [_row(d, facts) for d, facts in session.execute(statement).all()]


def lead_time_samples(
    session: Session, filters: Filters, *, limit: int | None = None, now: datetime | None = None
) -> list[LeadTimeSample]:
    """The lead-time samples: each shipped commit with a positive lead time."""
    scope = prepare(session, filters, now=now)
    table = DeploymentAttribution
    statement = (
        select(
            Deployment.id,
            Deployment.external_id,
            Deployment.service,
            DeploymentCommit.repo,
            DeploymentCommit.sha,
            Commit.author,
            Commit.message,
            Commit.authored_at,
            table.finished_at,
            DeploymentCommit.lead_time_us,
        )
        .join(table, table.deployment_id == Deployment.id)
        .join(DeploymentCommit, DeploymentCommit.deployment_id == Deployment.id)
        .join(Commit, (Commit.repo == DeploymentCommit.repo) & (Commit.sha == DeploymentCommit.sha))
        .where(
            table.profile == scope.profile,
            *scope.conditions(table.service, table.finished_at),
            DeploymentCommit.lead_time_us > 0,
        )
        .order_by(table.finished_at.desc(), DeploymentCommit.lead_time_us.desc())
        .limit(limit)
    )
    return [
        LeadTimeSample(*row[:9], hours=(row[9] or 0) / 10**6 / 3600)
        for row in session.execute(statement)
    ]


def failed_deployments(
    session: Session, filters: Filters, *, limit: int | None = None, now: datetime | None = None
) -> list[FailedDeployment]:
    """The failed deployments, each with every reason (rollback, hotfix, incident)."""
    scope = prepare(session, filters, now=now)
    rows = session.execute(_deployment_rows(scope).where(DeploymentAttribution.failed).limit(limit))
    failed = [(_row(d, facts), facts.recovery_us) for d, facts in rows]
    reasons: dict[int, list[FailureReason]] = defaultdict(list)
    ids = [row.id for row, _ in failed]
    remedy = aliased(Deployment)
    # Chunked to stay under the databases' limits on bound parameters.
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        by_deployment = (
            select(FailureCause.deployment_id, FailureCause.rule, remedy.source)
            .add_columns(remedy.external_id, remedy.finished_at)
            .join(remedy, remedy.id == FailureCause.cause_id)
            .where(FailureCause.rule != "incident")
        )
        by_incident = (
            select(FailureCause.deployment_id, FailureCause.rule, Incident.source)
            .add_columns(Incident.external_id, Incident.opened_at)
            .join(Incident, Incident.id == FailureCause.cause_id)
            .where(FailureCause.rule == "incident")
        )
        for statement in (by_deployment, by_incident):
            statement = statement.where(
                FailureCause.profile == scope.profile, FailureCause.deployment_id.in_(chunk)
            )
            for deployment_id, rule, source, external_id, at in session.execute(statement):
                reasons[deployment_id].append(FailureReason(rule, source, external_id, at))
    return [
        FailedDeployment(
            row,
            tuple(sorted(reasons[row.id], key=lambda r: (r.rule, r.external_id))),
            _hours(recovery),
        )
        for row, recovery in failed
    ]


def incidents(
    session: Session,
    filters: Filters,
    *,
    unattributed_only: bool = False,
    limit: int | None = None,
    now: datetime | None = None,
) -> list[IncidentRow]:
    """Production incidents opened in the window, with their links (time to restore)."""
    scope = prepare(session, filters, now=now)
    table = IncidentAttribution
    linked = aliased(Deployment)
    statement = (
        select(Incident, table, linked.external_id)
        .join(table, table.incident_id == Incident.id)
        .outerjoin(linked, linked.id == table.deployment_id)
        .where(table.profile == scope.profile, *scope.conditions(table.service, table.opened_at))
        .order_by(table.opened_at.desc(), Incident.id.desc())
        .limit(limit)
    )
    if unattributed_only:
        statement = statement.where(table.deployment_id.is_(None))
    return [
        IncidentRow(
            incident.id,
            incident.source,
            incident.external_id,
            incident.service,
            incident.environment,
            incident.severity,
            incident.title,
            incident.opened_at,
            incident.resolved_at,
            _hours(facts.restore_us),
            deployment,
            facts.rule,
            incident.url,
        )
        for incident, facts, deployment in session.execute(statement)
    ]


def unattributed_incidents(
    session: Session, filters: Filters, *, limit: int | None = None, now: datetime | None = None
) -> list[IncidentRow]:
    """The production incidents in the window that no deployment is linked to."""
    return incidents(session, filters, unattributed_only=True, limit=limit, now=now)
