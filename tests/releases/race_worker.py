"""A second process for the race test: roll api/production back to 1.0 and print the result.

Usage: python -m tests.releases.race_worker DATABASE_URL IDEMPOTENCY_KEY
"""

from __future__ import annotations

import json
import sys

from models.db import make_engine, session_factory
from releases import actions
from releases.roles import Actor
from settings import Settings


def main() -> None:
    database_url, key = sys.argv[1], sys.argv[2]
    engine = make_engine(database_url)
    sessions = session_factory(engine)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    result = actions.rollback(
        sessions,
        Settings(database_url=database_url),
        actor=Actor(f"captain-{key}", "captain"),
        service="api",
        environment="production",
        target_version="1.0",
        expected_current_version="1.1",
        reason="race",
        idempotency_key=key,
        confirmation="api",
    )
    sys.stdout.write(json.dumps({"outcome": result.outcome, "message": result.message}) + "\n")
    engine.dispose()


if __name__ == "__main__":
    main()
