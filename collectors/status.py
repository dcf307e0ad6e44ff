"""What the Sources page shows and writes: each stream's status, and "run now" requests.

The page never runs a collector: it files a request in `collect_requests`, and the worker
(`python cli.py worker`) claims it and runs the stream at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from models import CollectorRun, CollectorState, CollectRequest


@dataclass(frozen=True)
class StreamStatus:
    """One stream as the Sources page lists it.

    Attributes:
        key: `connection:stream:scope`.
        description: What the stream collects.
        last_success_at: End of the last successful run (None: never).
        last_run_at: Start of the last run of any outcome.
        last_status: That run's status.
        last_rows: Rows that run wrote.
        last_error: The current error in plain words (None once a run succeeds again).
        consecutive_failures: Failed runs in a row.
        pending_request: A "run now" request is waiting for the worker.
    """

    key: str
    description: str
    last_success_at: datetime | None
    last_run_at: datetime | None
    last_status: str | None
    last_rows: int | None
    last_error: str | None
    consecutive_failures: int
    pending_request: bool


def stream_statuses(session: Session, streams: Sequence[tuple[str, str]]) -> list[StreamStatus]:
    """The status of each configured stream, given as (key, description) pairs, in order."""
    keys = [key for key, _ in streams]
    states = {
        f"{s.connection}:{s.stream}:{s.scope}": s for s in session.scalars(select(CollectorState))
    }
    latest = (
        select(CollectorRun.stream, func.max(CollectorRun.id).label("id"))
        .where(CollectorRun.stream.in_(keys))
        .group_by(CollectorRun.stream)
        .subquery()
    )
    runs = {
        run.stream: run
        for run in session.scalars(
            select(CollectorRun).join(latest, CollectorRun.id == latest.c.id)
        )
    }
    pending = set(
        session.scalars(
            select(CollectRequest.stream).where(
                CollectRequest.claimed_at.is_(None), CollectRequest.stream.in_(keys)
            )
        )
    )
    statuses = []
    for key, description in streams:
        state, run = states.get(key), runs.get(key)
        statuses.append(
            StreamStatus(
                key=key,
                description=description,
                last_success_at=state.last_success_at if state else None,
                last_run_at=run.started_at if run else None,
                last_status=run.status if run else None,
                last_rows=run.rows if run else None,
                last_error=state.last_error if state else None,
                consecutive_failures=state.consecutive_failures if state else 0,
                pending_request=key in pending,
            )
        )
    return statuses


def request_run(session: Session, key: str, requested_by: str, now: datetime) -> bool:
    """File a "run now" request for a stream, unless one is already waiting.

    Returns:
        True when a new request was filed.
    """
    waiting = session.scalar(
        select(func.count())
        .select_from(CollectRequest)
        .where(CollectRequest.stream == key, CollectRequest.claimed_at.is_(None))
    )
    if waiting:
        return False
    session.add(CollectRequest(stream=key, requested_by=requested_by, requested_at=now))
    return True


def claim_requests(session: Session, owner: str, now: datetime) -> list[str]:
    """Claim every waiting request (one UPDATE, so two workers never claim the same one).

    Returns:
        The stream keys claimed, each once.
    """
    claimed = session.scalars(
        update(CollectRequest)
        .where(CollectRequest.claimed_at.is_(None))
        .values(claimed_at=now, claimed_by=owner)
        .returning(CollectRequest.stream)
    ).all()
    return sorted(set(claimed))
