"""Audit log: who did what to which environment, when, and how it ended; filter and export."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import streamlit as st

from errors import DatabaseUnavailable
from ui import auth, queries
from ui import releases as release_ui
from ui.banners import database_unavailable
from ui.context import settings_or_stop

ACTIONS = ["request", "approve", "reject", "promote", "rollback", "hold", "unhold"]
OUTCOMES = ["succeeded", "dispatched", "pending", "noop", "refused", "failed"]

st.title("Audit log")
user = auth.require_user(settings_or_stop())
top = st.columns(3)
actor = top[0].text_input("User", key="audit_actor")
subject = top[1].text_input("Service / environment", key="audit_subject")
period = top[2].date_input("Between", value=[], key="audit_period")
bottom = st.columns(2)
kinds = bottom[0].multiselect("Actions", ACTIONS, key="audit_actions")
outcomes = bottom[1].multiselect("Outcomes", OUTCOMES, key="audit_outcomes")
days = list(period) if isinstance(period, list | tuple) else []
since = datetime.combine(days[0], time(), UTC) if days else None
until = datetime.combine(days[-1], time(), UTC) + timedelta(days=1) if days else None
wanted = release_ui.AuditFilter(actor, tuple(kinds), tuple(outcomes), subject, since, until)
try:
    rows = release_ui.audit(wanted)
    empty = not rows and queries.inventory().is_empty
except DatabaseUnavailable as exc:
    database_unavailable(exc)

if not rows:
    st.info(
        "No delivery data yet, and no release actions: the audit log is empty."
        if empty
        else "No audit events match these filters."
    )
    st.stop()
st.caption(f"{len(rows)} events, newest first (times in UTC)")
st.dataframe(release_ui.audit_table(rows), hide_index=True, key="audit_table")
if auth.can_export(user):
    st.download_button(
        "Download CSV",
        release_ui.audit_csv(rows),
        file_name="flightdeck-audit.csv",
        mime="text/csv",
        key="audit_csv",
    )
