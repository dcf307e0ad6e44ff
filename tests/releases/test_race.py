"""Two processes act on one environment at once: exactly one proceeds, the other is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session, sessionmaker

from settings import PROJECT_ROOT
from tests.releases.test_actions import audit, current, seed


@contextmanager
def holding_the_lock(engine: Engine) -> Iterator[Connection]:
    """Hold api/production's lock row in an open transaction, as a slow action would."""
    with engine.connect() as connection:
        transaction = connection.begin()
        connection.execute(
            text(
                "INSERT INTO release_environments (service, environment, locked_at)"
                " VALUES ('api', 'production', CURRENT_TIMESTAMP)"
                " ON CONFLICT (service, environment) DO UPDATE SET locked_at = CURRENT_TIMESTAMP"
            )
        )
        if engine.dialect.name == "postgresql":
            connection.execute(
                text(
                    "SELECT id FROM release_environments"
                    " WHERE service = 'api' AND environment = 'production' FOR UPDATE"
                )
            )
        yield connection
        transaction.commit()


def start(db_url: str, key: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.releases.race_worker", db_url, key],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ | {"FLIGHTDECK_CONFIG": os.devnull},
    )


def waiting_on_locks(connection: Connection) -> int:
    return int(
        connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND datname = current_database()"
                " AND query ILIKE '%release_environments%'"
            )
        ).scalar_one()
    )


def test_two_processes_rolling_back_at_once_one_proceeds(
    sessions: sessionmaker[Session], engine: Engine, db_url: str
) -> None:
    seed(sessions)
    with holding_the_lock(engine):
        workers = [start(db_url, key) for key in ("first", "second")]
        for worker in workers:
            assert worker.stdout is not None
            assert worker.stdout.readline() == "ready\n"
        if engine.dialect.name == "postgresql":
            # Both are now queued behind our lock, so the race is real, not sequential.
            deadline = time.monotonic() + 60
            with engine.connect() as observer:
                while waiting_on_locks(observer) < len(workers):
                    # pg_stat_activity is a snapshot per transaction: end it to see changes.
                    observer.rollback()
                    assert time.monotonic() < deadline, "the workers never queued on the lock"
                    time.sleep(0.05)
    results = []
    for worker in workers:
        output, _ = worker.communicate(timeout=120)
        results.append(json.loads(output.strip().splitlines()[-1]))

    outcomes = sorted(result["outcome"] for result in results)
    assert outcomes == ["refused", "succeeded"]
    refused = next(result for result in results if result["outcome"] == "refused")
    assert refused["message"] == (
        "the screen was stale: 1.0 runs in production now, not 1.1; reload and decide again"
    )
    assert current(sessions) == "1.0"
    assert sorted(event.outcome for event in audit(sessions)) == ["refused", "succeeded"]
