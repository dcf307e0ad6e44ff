"""Which collector streams are stale: no success for longer than their source's interval allows.

A stream is stale when its last success is older than `STALE_AFTER_INTERVALS` times its
source's `interval_minutes`, or when it has never succeeded and its runs keep failing.
Streams of connections no longer in the config are ignored: nobody expects them to run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import CollectorState

# One late or failed run is normal (a source's hiccup, a worker restart); three missed
# intervals in a row mean the numbers on screen are falling behind.
STALE_AFTER_INTERVALS = 3


@dataclass(frozen=True)
class StaleStream:
    """A stream whose data is out of date.

    Attributes:
        connection: The config's connection name.
        stream: The stream (e.g. `workflow_runs`).
        scope: What it reads (a repository, a path...).
        last_success_at: Its last successful run (None: never).
        allowed: How old the last success may be before the stream counts as stale.
        last_error: The error of its latest failed run, if any.
    """

    connection: str
    stream: str
    scope: str
    last_success_at: datetime | None
    allowed: timedelta
    last_error: str | None


def stale_streams(
    session: Session, intervals: Mapping[str, timedelta], *, now: datetime
) -> list[StaleStream]:
    """The stale streams of the configured connections, oldest success first.

    Args:
        session: An open session.
        intervals: Each configured connection's collection interval.
        now: The current time (timezone-aware).
    """
    stale = []
    for state in session.scalars(
        select(CollectorState).where(CollectorState.connection.in_(list(intervals)))
    ):
        allowed = intervals[state.connection] * STALE_AFTER_INTERVALS
        if state.last_success_at is None:
            late = state.consecutive_failures > 0
        else:
            late = now - state.last_success_at > allowed
        if late:
            stale.append(
                StaleStream(
                    state.connection,
                    state.stream,
                    state.scope,
                    state.last_success_at,
                    allowed,
                    state.last_error,
                )
            )
    return sorted(stale, key=lambda s: (s.last_success_at is not None, s.last_success_at or now))
