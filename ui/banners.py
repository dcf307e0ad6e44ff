"""Banners shown above pages: demo sign-in, unreachable database."""

from __future__ import annotations

from typing import NoReturn

import streamlit as st

from errors import DatabaseUnavailable
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
