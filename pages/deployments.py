"""Deployments: how often production changes, by service or kind, and any one deployment's story.

A view: the filters go to `ui.dashboard.deployments_view`; picking a deployment in the
list (or by id in the URL, `?deployment=`) calls `ui.dashboard.deployment_detail`.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from errors import DatabaseUnavailable
from ui import dashboard, page
from ui.banners import database_unavailable
from ui.charts import KIND_COLORS, StackedPoint, stacked_bars
from ui.narrative import hours

STACK_KEY, PICK_KEY = "stack", "deployment"
KINDS = list(KIND_COLORS)

filters = page.start(
    "Deployments", "Production deployments over time, and what each one shipped and caused."
)
try:
    data = dashboard.deployments_view(filters)
except DatabaseUnavailable as exc:
    database_unavailable(exc)
if data.total == 0:
    st.info(
        "No production deployments in this window. Configure a deployment source (GitHub "
        "Deployments, GitLab, Jenkins) in `flightdeck.toml`, import `deployment` records "
        "with `python cli.py import FILE`, or widen the period.",
        icon=":material/deployed_code:",
    )
    st.stop()

stack = st.segmented_control(
    "Stack by",
    ["kind", "service"],
    default="kind",
    required=True,
    key=STACK_KEY,
    bind="query-params",
    persist_state="session",
)
points = [
    StackedPoint(c.start, c.label if stack == "kind" else c.service, c.deployments)
    for c in data.counts
]
st.plotly_chart(
    stacked_bars(
        points,
        f"Production deployments per week by {stack} ({data.total:,} in all)",
        colors=KIND_COLORS if stack == "kind" else None,
        order=KINDS if stack == "kind" else (),
        y_title="deployments",
    ),
    key="deployments_chart",
)

st.subheader("Deployments")
st.caption("Newest first. Select a row (or pick its id below) to see what it shipped and caused.")
listing = st.dataframe(
    data.deployments,
    hide_index=True,
    key="deployments_table",
    on_select="rerun",
    selection_mode="single-row",
    column_order=[c for c in data.deployments.columns if c != "id"],
)
ids = [int(i) for i in data.deployments["id"]]
names = dict(zip(ids, data.deployments["deployment"], strict=True))
selected = listing.selection.rows if listing else []
if selected and selected[0] < len(ids):
    st.session_state[PICK_KEY] = ids[selected[0]]
picked = st.selectbox(
    "Deployment",
    ids,
    index=None,
    format_func=lambda i: f"{names[i]} (#{i})",
    placeholder="Choose a deployment",
    key=PICK_KEY,
    bind="query-params",
)
if picked is None:
    st.stop()
try:
    detail = dashboard.deployment_detail(filters, picked)
except DatabaseUnavailable as exc:
    database_unavailable(exc)
if detail is None:
    st.warning("That deployment is not a successful production deployment in this view.")
    st.stop()

st.subheader(f"{detail.external_id}: {detail.service} {detail.version or detail.sha or ''}")
facts = st.columns(4)
facts[0].metric("Kind", detail.label)
facts[1].metric(
    "Finished", f"{detail.finished_at:%Y-%m-%d}", help=f"{detail.finished_at:%H:%M:%S} UTC"
)
facts[2].metric("Failed", "yes" if detail.failed else "no")
facts[3].metric(
    "Restored after",
    hours(detail.recovery_hours) if detail.recovery_hours is not None else "-",
)
if detail.failed:
    reasons = "; ".join(f"{c.rule} by {c.by}" for c in detail.causes) or "unknown"
    restored = (
        f"restored {detail.restored_at:%Y-%m-%d %H:%M} UTC"
        if detail.restored_at
        else "not yet restored"
    )
    st.error(f"Failed deployment: {reasons}; {restored}.", icon=":material/error:")
else:
    st.success("Not a failed deployment: no rollback, hotfix or incident points at it.")
if detail.url:
    st.link_button("Open at the source", detail.url)

st.markdown(f"**Shipped commits** ({len(detail.commits)})")
if detail.commits:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "sha": c.sha[:12],
                    "author": c.author,
                    "message": c.message,
                    "authored_at": c.authored_at,
                    "lead time (h)": c.lead_hours,
                }
                for c in detail.commits
            ]
        ),
        hide_index=True,
        key="shipped_commits",
        column_config={"lead time (h)": st.column_config.NumberColumn(format="%.1f")},
    )
else:
    st.caption(
        "No commits: a rollback or redeploy ships nothing new, and a stream's first "
        "deployment has no earlier one to compare with unless its record lists its commits."
    )
st.markdown(f"**Linked incidents** ({len(detail.incidents)})")
if detail.incidents:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "incident": i.external_id,
                    "severity": i.severity,
                    "title": i.title,
                    "opened_at": i.opened_at,
                    "resolved_at": i.resolved_at,
                    "link rule": i.rule,
                }
                for i in detail.incidents
            ]
        ),
        hide_index=True,
        key="linked_incidents",
    )
else:
    st.caption("No production incident is linked to this deployment.")
