"""Keeping the derived tables current: load a service's records, attribute, store the result.

`refresh` is incremental and cheap when nothing changed: one aggregate query per source
table compared with the fingerprint stored at the last refresh. When something changed,
per-service fingerprints (row counts, id sums, latest times and update stamps of the
service's deployments and incidents, and of the commits of its repositories) pick the
services to recompute; each is recomputed whole, because one late deployment can change
the labels, shipped commits and failures of everything after it in its stream. The
first check reads only indexes and the (small) incidents table, so it misses an
in-place correction of a finished deployment or a commit that carries no `updated_at`
and adds no row; the next change to that service, or `recompute` (the full rebuild,
`python cli.py recompute`), picks it up.

The commits each deployment shipped (`deployment_commits`) do not depend on the
configuration; everything else is stored under the configuration's profile.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, delete, func, select, text
from sqlalchemy.orm import Session

from metrics.attribution import (
    Attribution,
    DeploymentFacts,
    IncidentFacts,
    attribute,
)
from metrics.config import EngineConfig
from metrics.graph import CommitGraph
from metrics.scope import Filters, Scope, resolve
from models import (
    AttributionState,
    Base,
    Commit,
    Deployment,
    DeploymentAttribution,
    DeploymentCommit,
    FailureCause,
    Incident,
    IncidentAttribution,
)
from models.db import upsert

WHOLE_DATABASE = "*"
# One PostgreSQL advisory lock per schema serialises refreshes across processes (arbitrary
# constant, paired with the schema so databases sharing a server don't wait on each other).
_REFRESH_LOCK = 0x0F11_6D7C
_BATCH = 20


@dataclass(frozen=True)
class RefreshReport:
    """What a refresh did.

    Attributes:
        services: Services whose derived rows were recomputed.
        removed: Services whose derived rows were dropped (no data left).
    """

    services: int = 0
    removed: int = 0


def refresh(session: Session, config: EngineConfig) -> RefreshReport:
    """Bring the derived rows of `config`'s profile up to date with the stored data.

    Runs in the caller's transaction; the caller commits. Safe to call before every query.

    Args:
        session: An open session on the database.
        config: The engine configuration whose profile to refresh.

    Returns:
        How many services were recomputed or dropped.
    """
    profile = config.profile
    overall = _overall_fingerprint(session)
    if _stored(session, profile, WHOLE_DATABASE) == overall:
        return RefreshReport()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:key, hashtext(current_schema()))"),
            {"key": _REFRESH_LOCK},
        )
        if _stored(session, profile, WHOLE_DATABASE) == overall:
            return RefreshReport()  # another process refreshed while we waited
    current = _service_fingerprints(session)
    stored = {
        scope: fingerprint
        for scope, fingerprint in session.execute(
            select(AttributionState.scope, AttributionState.fingerprint).where(
                AttributionState.profile == profile, AttributionState.scope != WHOLE_DATABASE
            )
        )
    }
    changed = sorted(name for name, value in current.items() if stored.get(name) != value)
    gone = sorted(set(stored) - set(current))
    _forget(session, profile, gone)
    # With no state for any profile, no derived row exists yet: nothing to delete first.
    fresh = session.scalar(select(func.count()).select_from(AttributionState)) == 0
    # Services are written in batches: fewer, larger statements (each PostgreSQL upsert
    # stages its rows in a temporary table), while memory stays bounded by the batch.
    for start in range(0, len(changed), _BATCH):
        batch = changed[start : start + _BATCH]
        if not fresh:
            _delete_services(session, profile, batch)
        _store(session, profile, [_attribute_service(session, config, name) for name in batch])
    _remember(session, profile, {**{name: current[name] for name in changed}, "*": overall})
    return RefreshReport(len(changed), len(gone))


def prepare(
    session: Session,
    filters: Filters,
    *,
    now: datetime | None = None,
    buckets: Sequence[datetime] | None = None,
    catalog: bool = False,
) -> Scope:
    """Resolve `filters` (`metrics.scope.resolve`) and refresh that profile's derived rows.

    What every read of the derived tables does first, so its numbers are current.

    Raises:
        InputError: A filter names an unknown service, team or year, or the window is empty.
    """
    scope = resolve(session, filters, now=now, buckets=buckets, catalog=catalog)
    refresh(session, scope.config)
    return scope


DERIVED_MODELS: tuple[type[Base], ...] = (
    DeploymentCommit,
    DeploymentAttribution,
    IncidentAttribution,
    FailureCause,
    AttributionState,
)
"""The tables `recompute` rewrites."""


def recompute(session: Session, config: EngineConfig) -> RefreshReport:
    """Rebuild every derived row from scratch for `config` (other profiles are dropped).

    Args:
        session: An open session; the caller commits.
        config: The engine configuration to compute under.

    Returns:
        How many services were computed.
    """
    for model in DERIVED_MODELS:
        session.execute(delete(model).execution_options(synchronize_session=False))
    return refresh(session, config)


def _stored(session: Session, profile: str, scope: str) -> str | None:
    return session.scalar(
        select(AttributionState.fingerprint).where(
            AttributionState.profile == profile, AttributionState.scope == scope
        )
    )


def _remember(session: Session, profile: str, fingerprints: dict[str, str]) -> None:
    now = datetime.now(UTC)
    upsert(
        session,
        AttributionState,
        [
            {"profile": profile, "scope": scope, "fingerprint": value, "computed_at": now}
            for scope, value in fingerprints.items()
        ],
    )


def _deployment_aggregates() -> list[Any]:
    success = case((Deployment.status == "success", 1), else_=0)
    return [
        func.count(),
        func.sum(Deployment.id),
        func.max(Deployment.id),
        func.sum(success),
        func.max(Deployment.finished_at),
        func.max(Deployment.source_updated_at),
    ]


def _incident_aggregates() -> list[Any]:
    return [
        func.count(),
        func.sum(Incident.id),
        func.max(Incident.id),
        func.count(Incident.resolved_at),
        func.max(Incident.resolved_at),
        func.max(Incident.opened_at),
        func.max(Incident.source_updated_at),
    ]


def _overall_fingerprint(session: Session) -> str:
    """A cheap summary of the source tables, read from indexes only.

    It moves with every new row, deletion, status change (a running deployment finishing)
    and source-dated update; per-service fingerprints then find what changed.
    """
    deployments = session.execute(
        select(
            func.count(),
            func.max(Deployment.id),
            select(func.count()).where(Deployment.status == "success").scalar_subquery(),
            select(func.max(Deployment.source_updated_at)).scalar_subquery(),
        )
    ).one()
    incidents = session.execute(select(*_incident_aggregates())).one()
    commits = session.execute(select(func.max(Commit.id))).one()
    return repr((tuple(deployments), tuple(incidents), tuple(commits)))


def _service_fingerprints(session: Session) -> dict[str, str]:
    deployments = {
        row[0]: tuple(row[1:])
        for row in session.execute(
            select(Deployment.service, *_deployment_aggregates()).group_by(Deployment.service)
        )
    }
    incidents = {
        row[0]: tuple(row[1:])
        for row in session.execute(
            select(Incident.service, *_incident_aggregates()).group_by(Incident.service)
        )
    }
    commits = {
        repo: (count, last)
        for repo, count, last in session.execute(
            select(Commit.repo, func.count(), func.max(Commit.id)).group_by(Commit.repo)
        )
    }
    repos: dict[str, set[str]] = defaultdict(set)
    for service, repo in session.execute(
        select(Deployment.service, Deployment.repo).where(Deployment.repo.is_not(None)).distinct()
    ):
        if repo is not None:
            repos[service].add(repo)
    return {
        service: repr(
            (
                deployments.get(service),
                incidents.get(service),
                [(repo, commits.get(repo)) for repo in sorted(repos.get(service, ()))],
            )
        )
        for service in set(deployments) | set(incidents)
    }


def _forget(session: Session, profile: str, services: Sequence[str]) -> None:
    if not services:
        return
    for model in (DeploymentAttribution, IncidentAttribution):
        statement = delete(model).where(model.profile == profile, model.service.in_(services))
        session.execute(statement.execution_options(synchronize_session=False))
    session.execute(
        delete(AttributionState).where(
            AttributionState.profile == profile, AttributionState.scope.in_(services)
        )
    )


def _attribute_service(session: Session, config: EngineConfig, service: str) -> Attribution:
    """Load one service's records and attribute them."""
    deployments = load_deployments(session, service)
    incidents = load_incidents(session, service)
    graphs = load_graphs(session, {d.repo for d in deployments if d.repo is not None})
    return attribute(deployments, incidents, graphs, config)


def _delete_services(session: Session, profile: str, services: Sequence[str]) -> None:
    ids_of_services = select(Deployment.id).where(Deployment.service.in_(services))
    statements = [
        delete(DeploymentCommit).where(DeploymentCommit.deployment_id.in_(ids_of_services)),
        delete(FailureCause).where(
            FailureCause.profile == profile, FailureCause.deployment_id.in_(ids_of_services)
        ),
        *(
            delete(model).where(model.profile == profile, model.service.in_(services))
            for model in (DeploymentAttribution, IncidentAttribution)
        ),
    ]
    for statement in statements:
        # No ORM objects of these tables are ever loaded, so there is nothing to synchronise.
        session.execute(statement.execution_options(synchronize_session=False))


def _store(session: Session, profile: str, results: Sequence[Attribution]) -> None:
    upsert(
        session,
        DeploymentCommit,
        [
            {
                "deployment_id": c.deployment_id,
                "repo": c.repo,
                "sha": c.sha,
                "lead_time_us": c.lead_time_us,
            }
            for result in results
            for c in result.shipped
        ],
    )
    upsert(
        session,
        DeploymentAttribution,
        [
            {
                "profile": profile,
                "deployment_id": d.deployment_id,
                "service": d.service,
                "finished_at": d.finished_at,
                "label": d.label.value,
                "failed": d.failed,
                "restored_at": d.restored_at,
                "recovery_us": d.recovery_us,
            }
            for result in results
            for d in result.deployments
        ],
    )
    upsert(
        session,
        FailureCause,
        [
            {
                "profile": profile,
                "deployment_id": d.deployment_id,
                "rule": cause.rule.value,
                "cause_id": cause.cause_id,
            }
            for result in results
            for d in result.deployments
            for cause in d.causes
        ],
    )
    upsert(
        session,
        IncidentAttribution,
        [
            {
                "profile": profile,
                "incident_id": i.incident_id,
                "service": i.service,
                "opened_at": i.opened_at,
                "resolved_at": i.resolved_at,
                "restore_us": i.restore_us,
                "deployment_id": i.deployment_id,
                "rule": None if i.rule is None else i.rule.value,
            }
            for result in results
            for i in result.incidents
        ],
    )


def load_deployments(session: Session, service: str) -> list[DeploymentFacts]:
    """The successful deployments of `service`, as attribution records."""
    statement = select(
        Deployment.id,
        Deployment.source,
        Deployment.external_id,
        Deployment.service,
        Deployment.environment,
        Deployment.finished_at,
        Deployment.started_at,
        Deployment.sha,
        Deployment.version,
        Deployment.ref,
        Deployment.repo,
        Deployment.kind,
        Deployment.fixes,
        Deployment.commits,
    ).where(
        Deployment.service == service,
        Deployment.status == "success",
        Deployment.finished_at.is_not(None),
    )
    return [
        DeploymentFacts(
            id=row.id,
            source=row.source,
            external_id=row.external_id,
            service=row.service,
            environment=row.environment,
            finished_at=row.finished_at,
            started_at=row.started_at,
            sha=row.sha,
            version=row.version,
            ref=row.ref,
            repo=row.repo,
            kind=row.kind,
            fixes=row.fixes,
            commits=None if row.commits is None else tuple(row.commits),
        )
        for row in session.connection().execute(statement)
    ]


def load_incidents(session: Session, service: str) -> list[IncidentFacts]:
    """The incidents of `service`, as attribution records."""
    statement = select(
        Incident.id,
        Incident.source,
        Incident.external_id,
        Incident.service,
        Incident.opened_at,
        Incident.environment,
        Incident.resolved_at,
        Incident.deployment,
        Incident.root_cause_sha,
        Incident.version,
    ).where(Incident.service == service)
    return [
        IncidentFacts(
            id=row.id,
            source=row.source,
            external_id=row.external_id,
            service=row.service,
            opened_at=row.opened_at,
            environment=row.environment,
            resolved_at=row.resolved_at,
            deployment=row.deployment,
            root_cause_sha=row.root_cause_sha,
            version=row.version,
        )
        for row in session.connection().execute(statement)
    ]


def load_graphs(session: Session, repos: Iterable[str]) -> dict[str, CommitGraph]:
    """The commit graph of each repository."""
    parents: dict[str, dict[str, list[str]]] = defaultdict(dict)
    authored: dict[str, dict[str, datetime]] = defaultdict(dict)
    wanted = sorted(repos)
    if wanted:
        statement = select(Commit.repo, Commit.sha, Commit.parents, Commit.authored_at).where(
            Commit.repo.in_(wanted)
        )
        # Core, not the ORM: these are plain rows, and a large repository has a million.
        for repo, sha, commit_parents, authored_at in session.connection().execute(statement):
            parents[repo][sha] = commit_parents or []
            authored[repo][sha] = authored_at
    return {repo: CommitGraph(parents[repo], authored[repo]) for repo in wanted}
