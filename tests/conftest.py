"""Shared fixtures: a migrated database on each backend, and a clean slate for every test.

Database tests run twice, on SQLite (a temporary file) and on PostgreSQL (a schema of its
own in `FLIGHTDECK_TEST_POSTGRES_URL`, default the local server's `test` database). When
PostgreSQL is unreachable the PostgreSQL half is skipped on a laptop but fails under CI
(`CI` set), so a green CI run always means both backends passed.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from models import Base
from models.db import make_engine, session_factory
from models.migrate import upgrade

POSTGRES_URL = os.environ.get(
    "FLIGHTDECK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
FIXTURES = Path(__file__).parent / "fixtures"


def _postgres_unavailable(reason: str) -> None:
    message = f"PostgreSQL at {POSTGRES_URL} is unreachable ({reason})"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must test both databases", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The URL of an empty database on each backend, dropped after the test session."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'flightdeck.db'}"
        return
    schema = f"fd_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL)
    try:
        with admin.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
    except OperationalError as exc:
        admin.dispose()
        _postgres_unavailable(str(exc.orig).strip().splitlines()[0])
    separator = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture(scope="session")
def migrated_engine(database_url: str) -> Iterator[Engine]:
    """An engine on the test database, migrated to the newest revision."""
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def engine(migrated_engine: Engine) -> Iterator[Engine]:
    """The migrated engine; every table is emptied after the test."""
    yield migrated_engine
    with migrated_engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    """A session factory on the clean, migrated test database."""
    return session_factory(engine)


@pytest.fixture
def db_url(engine: Engine) -> str:
    """The URL of the clean, migrated test database, for subprocesses and AppTest."""
    return engine.url.render_as_string(hide_password=False)
