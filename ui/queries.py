"""Cached, page-facing queries: each opens a session, calls the library, returns plain data.

Pages call only these. Results are cached briefly (`st.cache_data`) keyed on their plain
arguments, so reruns and filter changes do not hit the database again.
"""

from __future__ import annotations

import streamlit as st
from sqlalchemy.exc import OperationalError

from errors import DatabaseUnavailable
from reports.inventory import Inventory, data_inventory
from ui.context import sessions

CACHE_SECONDS = 30


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)
def inventory() -> Inventory:
    """Counts and time spans of the stored data.

    Raises:
        DatabaseUnavailable: The database cannot be reached or is not migrated.
    """
    try:
        with sessions()() as session:
            return data_inventory(session)
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        msg = f"the database cannot be read ({reason}); run `python cli.py init-db`"
        raise DatabaseUnavailable(msg) from exc
