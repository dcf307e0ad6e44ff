"""Overview: what data Flightdeck holds (counts per kind and the time span covered)."""

from __future__ import annotations

import streamlit as st

from errors import DatabaseUnavailable
from ui import queries
from ui.banners import database_unavailable

st.title("Overview")
try:
    inventory = queries.inventory()
except DatabaseUnavailable as exc:
    database_unavailable(exc)

if inventory.is_empty:
    st.info(
        "No delivery data yet. Load the demo organisation with `python cli.py demo`, "
        "import NDJSON events with `python cli.py import FILE`, or configure sources in "
        "`flightdeck.toml`."
    )
    st.stop()

span = inventory.span
if span:
    first, last = span
    st.caption(f"Data from {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC")
columns = st.columns(4)
for index, kind in enumerate(inventory.kinds):
    columns[index % 4].metric(kind.kind.capitalize(), f"{kind.rows:,}")
st.dataframe(
    [
        {"kind": kind.kind, "rows": kind.rows, "first": kind.first, "last": kind.last}
        for kind in inventory.kinds
    ],
    hide_index=True,
    key="inventory_table",
)
