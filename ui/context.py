"""The settings and the database for the running app, or a clear message instead of a traceback."""

from __future__ import annotations

import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from errors import ConfigError
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
