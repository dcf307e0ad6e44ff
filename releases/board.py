"""The release board of one service: what runs in each environment, holds, freezes, requests.

Read-side only: it gathers what the Releases page shows in one pass over the caller's
session, and evaluates each pending request's gate fresh, so the checklist on screen is
never older than the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Deployment, ReleaseAction
from releases import environments
from releases.actions import decisions
from releases.environments import Hold, Running
from releases.freeze import ActiveFreeze, active_freezes
from releases.gates import (
    GateEvaluation,
    evaluate,
    policy_for,
    previous_environment,
    production_of,
    service_config,
    target_for,
)
from settings import Settings


@dataclass(frozen=True)
class PendingRequest:
    """A promotion request waiting for approvals or the promotion itself.

    Attributes:
        id: The request's action id.
        version: The version to promote.
        from_environment: Where it comes from.
        requested_by: Who asked.
        requested_at: When.
        reason: The requester's note.
        approvers: Who approved so far.
        needed: How many approvals the policy needs.
        gate: The gate, evaluated when the board was read.
    """

    id: int
    version: str
    from_environment: str | None
    requested_by: str
    requested_at: datetime
    reason: str | None
    approvers: list[str]
    needed: int
    gate: GateEvaluation


@dataclass(frozen=True)
class InFlight:
    """A promotion or rollback the backend accepted that no deployment record confirms yet.

    Attributes:
        kind: promote or rollback.
        version: The version being deployed.
        by: Who started it.
        at: When.
        url: Where to follow it, if the backend said.
    """

    kind: str
    version: str
    by: str
    at: datetime
    url: str | None


@dataclass(frozen=True)
class EnvironmentBoard:
    """One environment of the service.

    Attributes:
        name: The environment (lower case).
        production: Whether it is a production environment.
        running: What runs there, if anything is known.
        hold: Its hold, if held.
        freezes: Freeze windows in force now.
        candidate: The version running in the previous environment, if it differs.
        rollback_targets: Earlier versions that ran here, newest first.
        pending: Pending promotion requests into it.
        revision: The id of the latest action on it (0 if none): a screen's version.
        in_flight: A dispatched deployment not yet confirmed, if any.
    """

    name: str
    production: bool
    running: Running | None
    hold: Hold | None
    freezes: list[ActiveFreeze]
    candidate: str | None
    rollback_targets: list[Running]
    pending: list[PendingRequest] = field(default_factory=list)
    revision: int = 0
    in_flight: InFlight | None = None


def services(session: Session, settings: Settings) -> list[str]:
    """Services of the catalog and of stored deployments, sorted."""
    stored = session.scalars(select(Deployment.service).distinct()).all()
    return sorted(set(settings.services) | set(stored))


def _environment_names(session: Session, settings: Settings, service: str) -> list[str]:
    configured = [name.lower() for name in service_config(settings, service).environments]
    stored = session.scalars(
        select(func.lower(Deployment.environment)).where(Deployment.service == service).distinct()
    ).all()
    return configured + sorted(set(stored) - set(configured))


def _pending(
    session: Session, settings: Settings, service: str, environment: str, now: datetime
) -> list[PendingRequest]:
    policy = policy_for(settings, service, environment)
    rows = session.scalars(
        select(ReleaseAction)
        .where(
            ReleaseAction.kind == "request",
            ReleaseAction.service == service,
            ReleaseAction.environment == environment,
            ReleaseAction.state == "pending",
        )
        .order_by(ReleaseAction.id)
    ).all()
    pending = []
    for row in rows:
        approvers, rejecters = decisions(session, row.id)
        version = str(row.target_version)
        target = target_for(
            session,
            settings,
            service,
            environment,
            version,
            requester=row.requested_by,
            approvers=approvers,
            rejecters=rejecters,
        )
        pending.append(
            PendingRequest(
                id=row.id,
                version=version,
                from_environment=row.from_environment,
                requested_by=row.requested_by,
                requested_at=row.created_at,
                reason=row.reason,
                approvers=approvers,
                needed=policy.approvals if policy else 0,
                gate=evaluate(session, settings, target, now),
            )
        )
    return pending


def _in_flight(
    session: Session, service: str, environment: str, running: Running | None
) -> InFlight | None:
    statement = (
        select(ReleaseAction)
        .where(
            ReleaseAction.service == service,
            ReleaseAction.environment == environment,
            ReleaseAction.kind.in_(["promote", "rollback"]),
            ReleaseAction.state == "dispatched",
        )
        .order_by(ReleaseAction.id.desc())
        .limit(1)
    )
    action = session.scalars(statement).first()
    if action is None or action.target_version is None:
        return None
    # A deployment finished after the dispatch means the backend has reported back.
    if running is not None and running.since is not None and running.since >= action.created_at:
        return None
    return InFlight(
        action.kind,
        action.target_version,
        action.requested_by,
        action.created_at,
        action.backend_url,
    )


def release_board(
    session: Session, settings: Settings, service: str, now: datetime
) -> list[EnvironmentBoard]:
    """Every environment of `service` in promotion order, with what the page shows of it."""
    boards = []
    production = production_of(settings, service)
    for name in _environment_names(session, settings, service):
        running = environments.running(session, service, name)
        previous = previous_environment(settings, service, name)
        upstream = environments.running(session, service, previous) if previous else None
        candidate = (
            upstream.version
            if upstream and (running is None or upstream.version != running.version)
            else None
        )
        policy = policy_for(settings, service, name)
        revision = session.scalar(
            select(func.max(ReleaseAction.id)).where(
                ReleaseAction.service == service, ReleaseAction.environment == name
            )
        )
        boards.append(
            EnvironmentBoard(
                name=name,
                production=name in production,
                running=running,
                hold=environments.hold_of(session, service, name),
                freezes=active_freezes(policy.freezes, now) if policy else [],
                candidate=candidate,
                rollback_targets=environments.rollback_targets(session, service, name),
                pending=_pending(session, settings, service, name, now),
                revision=revision or 0,
                in_flight=_in_flight(session, service, name, running),
            )
        )
    return boards
