"""What runs where: read-side queries over deployments and holds for release control.

A stream is one (service, environment); environment names compare case-insensitively and
only successful deployments count (DESIGN §4). A deployment's key is its version, or its
sha where it has none. Every function takes the caller's session and only reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from models import Deployment, ReleaseEnvironment


@dataclass(frozen=True)
class Running:
    """A version running in a stream.

    Attributes:
        version: The deployment's key (its version, or its sha where it has none).
        sha: The deployed commit, when known.
        since: When the deployment finished.
        by: Who deployed it, when the source says.
        url: Link to the deployment in its source.
    """

    version: str
    sha: str | None
    since: datetime | None
    by: str | None
    url: str | None


@dataclass(frozen=True)
class Hold:
    """An environment hold: automation must not deploy until someone unholds it."""

    by: str
    since: datetime
    reason: str


def _stream(service: str, environment: str) -> Select[Deployment]:
    return (
        select(Deployment)
        .where(
            Deployment.service == service,
            func.lower(Deployment.environment) == environment.lower(),
            Deployment.status == "success",
        )
        .order_by(Deployment.finished_at.desc(), Deployment.started_at.desc(), Deployment.id.desc())
    )


def _running(deployment: Deployment) -> Running:
    return Running(
        version=deployment.version or deployment.sha or "?",
        sha=deployment.sha,
        since=deployment.finished_at,
        by=deployment.actor,
        url=deployment.url,
    )


def running(session: Session, service: str, environment: str) -> Running | None:
    """The version the latest successful deployment of the stream put there, if any."""
    latest = session.scalars(_stream(service, environment).limit(1)).first()
    return _running(latest) if latest else None


def history(session: Session, service: str, environment: str, limit: int = 50) -> list[Running]:
    """The stream's successful deployments, newest first."""
    return [_running(d) for d in session.scalars(_stream(service, environment).limit(limit))]


def rollback_targets(session: Session, service: str, environment: str) -> list[Running]:
    """Versions that ran successfully in the stream before, other than the running one.

    Newest first, each version once (its latest deployment), so a captain picks an explicit
    earlier version, never an implicit "previous".
    """
    seen: set[str] = set()
    targets: list[Running] = []
    for index, deployment in enumerate(history(session, service, environment, limit=500)):
        if index == 0:
            seen.add(deployment.version)
        elif deployment.version not in seen:
            seen.add(deployment.version)
            targets.append(deployment)
    return targets


def sha_of(session: Session, service: str, version: str) -> str | None:
    """The commit of `version` of `service`: from any deployment of it, newest first."""
    statement = (
        select(Deployment.sha)
        .where(
            Deployment.service == service,
            (Deployment.version == version) | (Deployment.sha == version),
            Deployment.sha.is_not(None),
        )
        .order_by(Deployment.finished_at.desc().nulls_last(), Deployment.id.desc())
        .limit(1)
    )
    return session.scalars(statement).first()


def first_success(
    session: Session, service: str, environment: str, version: str
) -> datetime | None:
    """When `version` first finished deploying successfully in the stream, if it did."""
    statement = select(func.min(Deployment.finished_at)).where(
        Deployment.service == service,
        func.lower(Deployment.environment) == environment.lower(),
        Deployment.status == "success",
        (Deployment.version == version)
        | (Deployment.version.is_(None) & (Deployment.sha == version)),
    )
    return session.scalar(statement)


def hold_of(session: Session, service: str, environment: str) -> Hold | None:
    """The stream's hold, if it is held."""
    row = session.scalars(
        select(ReleaseEnvironment).where(
            ReleaseEnvironment.service == service,
            ReleaseEnvironment.environment == environment.lower(),
        )
    ).first()
    if row is None or row.held_by is None or row.held_since is None:
        return None
    return Hold(row.held_by, row.held_since, row.hold_reason or "")
