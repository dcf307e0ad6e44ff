"""Migrations and the upsert helper, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from models import Base, Build, Commit, Deployment
from models.db import make_engine, upsert
from models.migrate import downgrade, upgrade

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def deployment(**changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "source": "github",
        "external_id": "run-1",
        "service": "api",
        "environment": "production",
        "sha": "abc123",
        "status": "running",
        "kind": "normal",
        "finished_at": None,
        "source_updated_at": T0,
    }
    return row | changes


def test_migrations_create_exactly_the_models_tables(engine: Engine) -> None:
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)

    assert differences == []


def test_downgrade_removes_every_table_and_upgrade_restores_them(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        downgrade(engine, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}

        upgrade(engine)
        assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    finally:
        upgrade(engine)
        engine.dispose()


def test_upsert_twice_stores_one_row_with_the_same_id(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        upsert(session, Deployment, [deployment()])
    with sessions.begin() as session:
        first_id = session.scalars(select(Deployment.id)).one()
        upsert(session, Deployment, [deployment()])

    with sessions() as session:
        assert session.scalars(select(Deployment.id)).all() == [first_id]


def test_upsert_lets_a_newer_source_update_win(sessions: sessionmaker[Session]) -> None:
    finished = deployment(
        status="success", finished_at=T0, source_updated_at=T0 + timedelta(minutes=5)
    )
    with sessions.begin() as session:
        upsert(session, Deployment, [deployment()])
        upsert(session, Deployment, [finished])

    with sessions() as session:
        stored = session.scalars(select(Deployment)).one()
        assert (stored.status, stored.finished_at) == ("success", T0)


def test_upsert_ignores_a_stale_delivery_dated_before_the_stored_row(
    sessions: sessionmaker[Session],
) -> None:
    finished = deployment(
        status="success", finished_at=T0, source_updated_at=T0 + timedelta(minutes=5)
    )
    with sessions.begin() as session:
        upsert(session, Deployment, [finished])
        upsert(session, Deployment, [deployment()])  # the older "running" state arrives late

    with sessions() as session:
        assert session.scalars(select(Deployment.status)).one() == "success"


def test_upsert_without_update_times_keeps_the_last_writer(sessions: sessionmaker[Session]) -> None:
    build = {
        "source": "jenkins",
        "external_id": "job/1",
        "status": "running",
        "source_updated_at": None,
    }
    with sessions.begin() as session:
        upsert(session, Build, [build])
        upsert(session, Build, [build | {"status": "failure"}])

    with sessions() as session:
        assert session.scalars(select(Build.status)).one() == "failure"


def test_timestamps_come_back_as_aware_utc(sessions: sessionmaker[Session]) -> None:
    local = datetime(2026, 3, 1, 13, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    with sessions.begin() as session:
        upsert(
            session,
            Commit,
            [
                {
                    "repo": "acme/api",
                    "sha": "abc",
                    "parents": [],
                    "author": None,
                    "authored_at": local,
                    "committed_at": None,
                    "message": None,
                }
            ],
        )

    with sessions() as session:
        stored = session.scalars(select(Commit.authored_at)).one()
    assert stored == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert stored.tzinfo is UTC


def test_a_naive_timestamp_is_refused(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(ValueError, match="naive datetime"), sessions.begin() as session:
        upsert(session, Deployment, [deployment(source_updated_at=datetime(2026, 3, 1))])  # noqa: DTZ001


def test_many_batches_in_one_transaction_keep_the_lock_count_flat(
    sessions: sessionmaker[Session],
) -> None:
    def commit(number: int) -> dict[str, object]:
        return {
            "repo": "acme/api",
            "sha": f"{number:08x}",
            "parents": [],
            "author": None,
            "authored_at": T0,
            "committed_at": None,
            "message": None,
        }

    with sessions.begin() as session:
        for number in range(300):
            upsert(session, Commit, [commit(number)])
        if session.get_bind().dialect.name == "postgresql":
            # A staging table per batch would hold a lock each until commit and, on a long
            # import, exhaust max_locks_per_transaction.
            held = session.scalar(
                text("SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid()")
            )
            assert held is not None and held < 50

    with sessions() as session:
        assert len(session.scalars(select(Commit.sha)).all()) == 300
