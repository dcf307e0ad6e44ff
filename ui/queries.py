"""Cached, page-facing queries: each opens a session, calls the library, returns plain data.

Pages call only these. Results are cached briefly (`st.cache_data`) keyed on their plain
arguments, so reruns and filter changes do not hit the database again.
"""

from __future__ import annotations

import streamlit as st

from reports.inventory import Inventory, data_inventory
from ui.context import database_errors, sessions

CACHE_SECONDS = 30


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)
def inventory() -> Inventory:
    """Which kinds of record are stored.

    Raises:
        DatabaseUnavailable: The database cannot be reached or is not migrated.
    """
    with database_errors(), sessions()() as session:
        return data_inventory(session)
