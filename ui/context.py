"""The settings and the database for the running app, or a clear message instead of a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from errors import ConfigError, DatabaseUnavailable
from models.db import make_engine, session_factory
from settings import Settings, load_settings


def settings_or_stop() -> Settings:
    """Load the settings; on a configuration error show it and stop the page."""
    try:
        return load_settings()
    except ConfigError as exc:
        st.error(f"Flightdeck cannot start: {exc}")
        st.stop()


def _dispose(engine: Engine) -> None:
    engine.dispose()


# One engine (and its pool) per process and URL, closed when the cache lets it go; sessions
# are opened per query and never cached.
@st.cache_resource(show_spinner=False, on_release=_dispose)
def _engine(database_url: str) -> Engine:
    return make_engine(database_url)


def sessions() -> sessionmaker[Session]:
    """Return a session factory for the configured database."""
    return session_factory(_engine(settings_or_stop().database_url))


@contextmanager
def database_errors() -> Iterator[None]:
    """Turn an unreachable or unmigrated database into `DatabaseUnavailable` (a page banner).

    PostgreSQL reports a missing table as a ProgrammingError, SQLite as an OperationalError.
    """
    try:
        yield
    except (OperationalError, ProgrammingError) as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        msg = f"the database cannot be read ({reason}); run `python cli.py init-db`"
        raise DatabaseUnavailable(msg) from exc
