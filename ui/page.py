"""How every dashboard page starts: title, banners, the empty state and the sidebar filters."""

from __future__ import annotations

import streamlit as st

from errors import DatabaseUnavailable
from ui import dashboard, queries
from ui.banners import database_unavailable, stale_data
from ui.filters import DashboardFilters, sidebar_filters

NO_DATA = (
    "No delivery data yet. Load the demo organisation with `python cli.py demo`, "
    "import NDJSON events with `python cli.py import FILE`, or configure sources in "
    "`flightdeck.toml`."
)


def start(title: str, caption: str) -> DashboardFilters:
    """Title the page, show the banners, stop on an empty database, draw the filters.

    Args:
        title: The page's heading.
        caption: One line under it saying what the page answers.

    Returns:
        What the sidebar filters select.
    """
    st.title(title)
    st.caption(caption)
    try:
        inventory = queries.inventory()
        choices = dashboard.filter_choices()
        stale = dashboard.stale_sources()
    except DatabaseUnavailable as exc:
        database_unavailable(exc)
    stale_data(stale)
    if inventory.is_empty:
        st.info(NO_DATA, icon=":material/inbox:")
        st.stop()
    filters = sidebar_filters(choices)
    st.caption(f"Showing {filters.describe()}.")
    return filters
