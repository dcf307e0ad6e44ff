"""Sources: every configured stream's last success, lag, rows and last error; "Run now"."""

from __future__ import annotations

from dataclasses import asdict

import streamlit as st

from errors import DatabaseUnavailable
from ui import auth
from ui import sources as source_ui
from ui.banners import database_unavailable
from ui.context import settings_or_stop

st.title("Sources")
user = auth.require_user(settings_or_stop())
try:
    rows = source_ui.source_rows()
except DatabaseUnavailable as exc:
    database_unavailable(exc)

if not rows:
    st.info(
        "No delivery data yet from any source: no streams are configured. Add a "
        "`[sources.<name>]` table with `kind` and `scopes` to `flightdeck.toml`, then run "
        "`python cli.py worker` (or `python cli.py collect` once)."
    )
    st.stop()

failing = [row for row in rows if row.last_error]
if failing:
    st.warning(f"{len(failing)} of {len(rows)} streams failed on their last run.")
st.caption("Collected by `python cli.py worker`; lag is the time since the last success.")
st.dataframe(
    [asdict(row) for row in rows],
    hide_index=True,
    key="sources_table",
    column_config={"last_error": st.column_config.TextColumn("last error", width="large")},
)


def _request(stream: str) -> None:
    filed = source_ui.run_now(user, stream)
    st.toast(f"Requested {stream}" if filed else f"{stream} is already requested")


if source_ui.can_run_now(user):
    chosen = st.selectbox("Stream", [row.stream for row in rows], key="run_now_stream")
    st.button(
        "Run now",
        key="run_now",
        on_click=_request,
        args=(chosen,),
        help="The worker collects this stream within seconds.",
    )
else:
    st.caption("Only admins can start a collection from here.")
