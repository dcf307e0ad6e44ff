"""A stream is stale when it has not succeeded for longer than its source's interval allows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from models import CollectorState
from reports.freshness import STALE_AFTER_INTERVALS, stale_streams

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
INTERVAL = timedelta(minutes=15)


def state(
    connection: str, scope: str, success: datetime | None, failures: int = 0
) -> CollectorState:
    return CollectorState(
        connection=connection,
        stream="workflow_runs",
        scope=scope,
        last_success_at=success,
        consecutive_failures=failures,
        last_error="HTTP 401" if failures else None,
    )


def test_only_streams_late_beyond_their_allowance_or_failing_from_the_start_are_stale(
    sessions: sessionmaker[Session],
) -> None:
    allowed = INTERVAL * STALE_AFTER_INTERVALS
    with sessions.begin() as session:
        session.add_all(
            [
                state("github", "acme/fresh", NOW - allowed),
                state("github", "acme/late", NOW - allowed - timedelta(minutes=1)),
                state("github", "acme/new", None),
                state("github", "acme/broken", None, failures=3),
                state("removed", "acme/old", NOW - timedelta(days=30)),
            ]
        )
    with sessions() as session:
        stale = stale_streams(session, {"github": INTERVAL}, now=NOW)

    assert [(s.scope, s.last_error) for s in stale] == [
        ("acme/broken", "HTTP 401"),  # never succeeded: listed first
        ("acme/late", None),
    ]
    assert stale[1].allowed == allowed
