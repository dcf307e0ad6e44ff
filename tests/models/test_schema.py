"""Migrations and the upsert helper, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import DateTime, Engine, inspect, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session, sessionmaker

from models import Base, Build, Commit, Deployment
from models.base import UTCDateTime
from models.db import make_engine, upsert
from models.migrate import HEADS, downgrade, is_current, upgrade
from settings import PROJECT_ROOT

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
        assert not is_current(engine)

        upgrade(engine)
        assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
        assert is_current(engine)
    finally:
        upgrade(engine)
        engine.dispose()


def test_one_branch_behind_is_not_current(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        downgrade(engine, "0003_collectors@-1")
        assert not is_current(engine)
    finally:
        upgrade(engine)
        engine.dispose()


def test_a_database_never_migrated_is_not_current(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")

    assert not is_current(engine)
    engine.dispose()


def test_the_known_heads_are_the_migration_scripts_heads() -> None:
    scripts = ScriptDirectory.from_config(Config(PROJECT_ROOT / "alembic.ini"))

    assert set(scripts.get_heads()) == HEADS


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


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        datetime(2026, 3, 1, 12, 0, 5, 123, tzinfo=UTC),
        datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC),
        datetime(2026, 3, 1, 0, 30, tzinfo=ZoneInfo("Europe/Berlin")),
    ],
)
def test_sqlite_stores_timestamps_as_sqlalchemy_datetime_text(value: datetime) -> None:
    dialect = sqlite.dialect()
    sqlalchemy_text = DateTime().dialect_impl(dialect).bind_processor(dialect)
    ours = UTCDateTime().bind_processor(dialect)
    assert sqlalchemy_text is not None
    assert ours is not None

    assert ours(value) == sqlalchemy_text(value.astimezone(UTC).replace(tzinfo=None))


@pytest.mark.parametrize(
    "stored",
    [
        "2026-03-01 12:00:00.000000",
        "2026-03-01 12:00:05.000123",
        "2026-03-01 12:00:00",
        "2026-03-01",
    ],
)
def test_sqlite_reads_timestamps_as_sqlalchemy_datetime_does(stored: str) -> None:
    dialect = sqlite.dialect()
    sqlalchemy_datetime = DateTime().dialect_impl(dialect).result_processor(dialect, None)
    ours = UTCDateTime().result_processor(dialect, None)
    assert sqlalchemy_datetime is not None
    assert ours is not None
    expected = sqlalchemy_datetime(stored)
    assert expected is not None

    assert ours(stored) == expected.replace(tzinfo=UTC)


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
