"""Banners shown above pages: demo sign-in, unreachable database, stale data."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn

import streamlit as st

from errors import DatabaseUnavailable
from reports.freshness import StaleStream
from settings import Settings


def auth_banner(settings: Settings) -> None:
    """Warn that nobody signs in when the auth mode is `none` (the local demo)."""
    if settings.auth.mode == "none":
        st.info(
            'Sign-in is off (`auth.mode = "none"`): everyone acts as admin. '
            "Set `auth.mode` to `oidc` or `proxy` before sharing this app.",
            icon=":material/lock_open:",
        )


def database_unavailable(error: DatabaseUnavailable) -> NoReturn:
    """Say the database cannot be read, and how to fix it, then stop the page."""
    st.error(f"No data can be shown: {error}.", icon=":material/database:")
    st.stop()


def stale_data(streams: Sequence[StaleStream]) -> None:
    """Warn that some numbers may be out of date because collectors stopped succeeding."""
    if not streams:
        return
    names = ", ".join(f"`{s.connection}:{s.stream}:{s.scope}`" for s in streams[:5])
    more = f" and {len(streams) - 5} more" if len(streams) > 5 else ""
    oldest = streams[0].last_success_at
    since = f"last success {oldest:%Y-%m-%d %H:%M} UTC" if oldest else "never succeeded"
    st.warning(
        f"Data may be stale: {names}{more} ({since}). Check the Sources page and the worker "
        "(`python cli.py worker`).",
        icon=":material/schedule:",
    )
