"""Delivery reads the DORA engine lacks: counts by kind, one deployment's story, PR stages, slowest.

They read the engine's derived tables under the profile `metrics.scope.resolve` gives for
the same `Filters`, after `metrics.derived.refresh` (`metrics.derived.prepare` does both,
once per page view), so their numbers agree with `metrics.dora_summary` exactly: the same
deployments, labels, failures and lead-time samples.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from metrics.derived import prepare
from metrics.scope import Filters, Scope
from metrics.summary import Period, bucket_boundaries
from models import (
    Commit,
    Deployment,
    DeploymentAttribution,
    DeploymentCommit,
    FailureCause,
    Incident,
    IncidentAttribution,
    PullRequest,
    Service,
)

_US_PER_HOUR = 3600 * 10**6


@dataclass(frozen=True)
class DeploymentCount:
    """Production deployments of one service with one label in one trend bucket."""

    start: datetime
    service: str
    label: str
    deployments: int


def deployment_counts(
    session: Session, filters: Filters, period: Period = Period.week, *, now: datetime | None = None
) -> list[DeploymentCount]:
    """Count the production deployments per bucket, service and label (normal, rollback...).

    The counts sum to `dora_summary(...).deployment_frequency.deployments`; empty
    (bucket, service, label) combinations are left out.
    """
    scope = prepare(session, filters, now=now)
    boundaries = bucket_boundaries(scope.since, scope.until, period)
    table = DeploymentAttribution
    whens = [(table.finished_at < end, index) for index, end in enumerate(boundaries[1:])]
    bucket = case(*whens, else_=None)
    statement = (
        select(bucket, table.service, table.label, func.count())
        .where(table.profile == scope.profile, *scope.conditions(table.service, table.finished_at))
        .group_by(bucket, table.service, table.label)
    )
    counts = [
        DeploymentCount(boundaries[index], service, label, count)
        for index, service, label, count in session.execute(statement)
        if index is not None
    ]
    return sorted(counts, key=lambda c: (c.start, c.service, c.label))


@dataclass(frozen=True)
class ShippedChange:
    """A commit a deployment shipped first; `lead_hours` is None without a commit record."""

    repo: str
    sha: str
    author: str | None
    message: str | None
    authored_at: datetime | None
    lead_hours: float | None


@dataclass(frozen=True)
class LinkedIncident:
    """A production incident linked to the deployment, and the link rule that matched."""

    external_id: str
    title: str | None
    severity: str | None
    opened_at: datetime
    resolved_at: datetime | None
    rule: str


@dataclass(frozen=True)
class Cause:
    """One reason a deployment failed: `rollback` or `hotfix` (by which deployment), `incident`."""

    rule: str
    by: str
    at: datetime | None


@dataclass(frozen=True)
class DeploymentDetail:
    """Everything behind one production deployment.

    Attributes:
        external_id: The deployment's id at its source.
        label: normal, rollback, redeploy or hotfix (explicit or inferred).
        failed: Whether it is a failed deployment (DESIGN §4).
        causes: Why it failed (empty when it did not).
        restored_at: When service was restored (None: not failed, or not yet restored).
        recovery_hours: `restored_at - finished_at`.
        commits: What it shipped first, oldest first.
        incidents: The incidents linked to it.
    """

    id: int
    external_id: str
    service: str
    environment: str
    version: str | None
    sha: str | None
    started_at: datetime | None
    finished_at: datetime
    label: str
    failed: bool
    causes: tuple[Cause, ...]
    restored_at: datetime | None
    recovery_hours: float | None
    commits: tuple[ShippedChange, ...]
    incidents: tuple[LinkedIncident, ...]
    url: str | None


def deployment_detail(
    session: Session, scope: Scope, deployment_id: int
) -> DeploymentDetail | None:
    """The shipped commits, linked incidents, failure causes and restoration of one deployment.

    Returns None when the deployment is not a successful production deployment under the
    scope's profile (the engine does not count it).
    """
    found = session.execute(
        select(Deployment, DeploymentAttribution)
        .join(DeploymentAttribution, DeploymentAttribution.deployment_id == Deployment.id)
        .where(
            DeploymentAttribution.profile == scope.profile,
            Deployment.id == deployment_id,
        )
    ).one_or_none()
    if found is None:
        return None
    deployment, facts = found
    commits = session.execute(
        select(
            DeploymentCommit.repo,
            DeploymentCommit.sha,
            Commit.author,
            Commit.message,
            Commit.authored_at,
            DeploymentCommit.lead_time_us,
        )
        .outerjoin(
            Commit, (Commit.repo == DeploymentCommit.repo) & (Commit.sha == DeploymentCommit.sha)
        )
        .where(DeploymentCommit.deployment_id == deployment_id)
        .order_by(Commit.authored_at, DeploymentCommit.sha)
    )
    incidents = session.execute(
        select(Incident, IncidentAttribution.rule)
        .join(IncidentAttribution, IncidentAttribution.incident_id == Incident.id)
        .where(
            IncidentAttribution.profile == scope.profile,
            IncidentAttribution.deployment_id == deployment_id,
        )
        .order_by(Incident.opened_at)
    )
    return DeploymentDetail(
        id=deployment.id,
        external_id=deployment.external_id,
        service=deployment.service,
        environment=deployment.environment,
        version=deployment.version,
        sha=deployment.sha,
        started_at=deployment.started_at,
        finished_at=facts.finished_at,
        label=facts.label,
        failed=facts.failed,
        causes=_causes(session, scope, deployment_id),
        restored_at=facts.restored_at,
        recovery_hours=None if facts.recovery_us is None else facts.recovery_us / _US_PER_HOUR,
        commits=tuple(
            ShippedChange(
                repo,
                sha,
                author,
                message,
                authored_at,
                # Lead time is only a sample when positive (DESIGN §4); show the rest as blank.
                lead / _US_PER_HOUR if lead is not None and lead > 0 else None,
            )
            for repo, sha, author, message, authored_at, lead in commits
        ),
        incidents=tuple(
            LinkedIncident(
                incident.external_id,
                incident.title,
                incident.severity,
                incident.opened_at,
                incident.resolved_at,
                rule or "",
            )
            for incident, rule in incidents
        ),
        url=deployment.url,
    )


def _causes(session: Session, scope: Scope, deployment_id: int) -> tuple[Cause, ...]:
    rows = session.execute(
        select(FailureCause.rule, FailureCause.cause_id).where(
            FailureCause.profile == scope.profile, FailureCause.deployment_id == deployment_id
        )
    ).all()
    causes = []
    for rule, cause_id in rows:
        if rule == "incident":
            incident = session.get(Incident, cause_id)
            if incident is not None:
                causes.append(Cause(rule, incident.external_id, incident.opened_at))
        else:
            remedy = session.get(Deployment, cause_id)
            if remedy is not None:
                causes.append(Cause(rule, remedy.external_id, remedy.finished_at))
    return tuple(sorted(causes, key=lambda cause: (cause.rule, cause.by)))


@dataclass(frozen=True)
class PullRequestStages:
    """Where the time of one merged pull request went, in hours.

    Attributes:
        coding_hours: First commit to opening (None without a first-commit time).
        review_hours: Opening to merge.
        waiting_hours: Merge to the first production deployment that shipped the merge
            (None while none has).
    """

    repo: str
    number: int
    title: str | None
    service: str
    merged_at: datetime
    coding_hours: float | None
    review_hours: float
    waiting_hours: float | None


def pull_request_stages(session: Session, scope: Scope) -> list[PullRequestStages]:
    """Split the lead time of pull requests merged in the window into coding, review and waiting.

    A pull request belongs to a service through the catalog's `repos`. It reached
    production with the service's first successful production deployment (the engine's
    view) that finished after the merge and whose commit is the merge commit or was
    committed after the merge; on a linear main line that is the first deployment
    containing it, without walking the commit graph.
    """
    repos: dict[str, str] = {}
    for name, service_repos in session.execute(select(Service.name, Service.repos)):
        if scope.services is None or name in scope.services:
            for repo in service_repos or ():
                repos.setdefault(repo, name)
    if not repos:
        return []
    statement = (
        select(
            PullRequest.repo,
            PullRequest.number,
            PullRequest.title,
            PullRequest.first_commit_at,
            PullRequest.opened_at,
            PullRequest.merged_at,
            PullRequest.merge_commit_sha,
        )
        .where(PullRequest.merged_at >= scope.since, PullRequest.merged_at < scope.until)
        .order_by(PullRequest.merged_at)
    )
    if scope.services is not None:
        # A few services' repositories: their index narrows best. For every service, a
        # list of all repositories would make SQLite walk that index over the whole table
        # instead of the window's slice of `merged_at`, so the repositories are checked below.
        statement = statement.where(PullRequest.repo.in_(list(repos)))
    # `all()`: psycopg hands over rows one call each when iterated, a third slower.
    merged = [row for row in session.connection().execute(statement).all() if row.repo in repos]
    # Each service's production deployments from the window on: (commit time, finish, sha).
    production = (
        select(
            DeploymentAttribution.service,
            DeploymentAttribution.finished_at,
            Deployment.sha,
            Commit.committed_at,
        )
        .join(Deployment, Deployment.id == DeploymentAttribution.deployment_id)
        .outerjoin(Commit, (Commit.repo == Deployment.repo) & (Commit.sha == Deployment.sha))
        .where(
            DeploymentAttribution.profile == scope.profile,
            DeploymentAttribution.service.in_(sorted(set(repos.values()))),
            DeploymentAttribution.finished_at >= scope.since,
            DeploymentAttribution.label != "rollback",
        )
        .order_by(DeploymentAttribution.finished_at)
    )
    deployed = session.connection().execute(production).all()
    finishes: dict[str, list[datetime]] = defaultdict(list)
    commits: dict[str, list[tuple[datetime | None, str | None]]] = defaultdict(list)
    for service, finished_at, sha, committed_at in deployed:
        finishes[service].append(finished_at)
        commits[service].append((committed_at, sha))
    stages = []
    for repo, number, title, first_commit_at, opened_at, merged_at, merge_sha in merged:
        if merged_at is None:  # excluded by the query; narrows the type
            continue
        service = repos[repo]
        waiting = None
        start = bisect.bisect_left(finishes[service], merged_at)
        for index in range(start, len(finishes[service])):
            committed_at, sha = commits[service][index]
            if sha == merge_sha or (committed_at is not None and committed_at >= merged_at):
                waiting = _hours(merged_at, finishes[service][index])
                break
        stages.append(
            PullRequestStages(
                repo,
                number,
                title,
                service,
                merged_at,
                _hours(first_commit_at, opened_at) if first_commit_at else None,
                _hours(opened_at, merged_at),
                waiting,
            )
        )
    return stages


def _hours(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 3600


def lead_time_hours(session: Session, scope: Scope) -> list[float]:
    """Every lead-time sample of the window in hours (the summary's samples, unsorted)."""
    table = DeploymentAttribution
    statement = (
        select(*scope.groups(table.service, table.finished_at), DeploymentCommit.lead_time_us)
        .select_from(DeploymentCommit)
        .join(table, table.deployment_id == DeploymentCommit.deployment_id)
        .where(
            table.profile == scope.profile,
            *scope.conditions(table.service, table.finished_at),
            DeploymentCommit.lead_time_us > 0,
        )
    )
    grouped = scope.samples(session, statement)
    return [lead / _US_PER_HOUR for leads in grouped.values() for lead in leads]


@dataclass(frozen=True)
class SlowChange:
    """One of the commits that took longest to reach production."""

    deployment: str
    service: str
    sha: str
    author: str | None
    message: str | None
    authored_at: datetime
    finished_at: datetime
    lead_hours: float


def slowest_changes(session: Session, scope: Scope, *, limit: int = 25) -> list[SlowChange]:
    """The `limit` lead-time samples with the longest lead time, longest first."""
    table = DeploymentAttribution
    # The longest samples first, from the two narrow tables; only those few are joined to
    # their deployment and commit (joining every sample of the window first is slower).
    slowest = (
        select(
            DeploymentCommit.deployment_id,
            DeploymentCommit.repo,
            DeploymentCommit.sha,
            DeploymentCommit.lead_time_us,
            table.service,
            table.finished_at,
        )
        .join(table, table.deployment_id == DeploymentCommit.deployment_id)
        .where(
            table.profile == scope.profile,
            *scope.conditions(table.service, table.finished_at),
            DeploymentCommit.lead_time_us > 0,
        )
        .order_by(DeploymentCommit.lead_time_us.desc(), DeploymentCommit.sha)
        .limit(limit)
        .subquery()
    )
    statement = (
        select(
            Deployment.external_id,
            slowest.c.service,
            slowest.c.sha,
            Commit.author,
            Commit.message,
            Commit.authored_at,
            slowest.c.finished_at,
            slowest.c.lead_time_us,
        )
        .join(Deployment, Deployment.id == slowest.c.deployment_id)
        # A sample has a lead time only because its commit is recorded.
        .join(Commit, (Commit.repo == slowest.c.repo) & (Commit.sha == slowest.c.sha))
        .order_by(slowest.c.lead_time_us.desc(), slowest.c.sha)
    )
    return [
        SlowChange(
            deployment, service, sha, author, message, authored_at, finished_at, lead / _US_PER_HOUR
        )
        for deployment, service, sha, author, message, authored_at, finished_at, lead in (
            session.execute(statement)
        )
    ]
