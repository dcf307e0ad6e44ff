"""Overview: the five DORA metrics with tiers, changes, weekly trends, groups, and the rows behind.

A view: the sidebar filters and the breakdown choice go to one cached query
(`ui.dashboard.overview`); a number's button or a table row picks which rows to show
below (`ui.dashboard.drill`).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from errors import DatabaseUnavailable
from metrics import REWORK_RATE_2025_MEAN
from ui import dashboard, page
from ui.banners import database_unavailable
from ui.charts import TIER_BADGES, style_tiers
from ui.narrative import change, hours, metric_views, percent, what_moved

DRILL_KEY, BY_KEY, TABLE_KEY = "drill", "by", "groups_table"
TIERS = ["frequency tier", "lead tier", "fail tier", "recovery tier"]


def _drill(metric: str) -> None:
    st.session_state[DRILL_KEY] = metric


filters = page.start(
    "Overview", "Delivery performance at a glance: every number opens the rows behind it."
)
by = st.segmented_control(
    "Break down by",
    ["service", "team"],
    default="service",
    required=True,
    key=BY_KEY,
    bind="query-params",
    persist_state="session",
)
try:
    data = dashboard.overview(filters, by or "service")
except DatabaseUnavailable as exc:
    database_unavailable(exc)

current, previous = data.current, data.previous
if current.deployment_frequency.deployments == 0 and current.time_to_restore.samples == 0:
    st.info(
        "No production deployments or incidents in this window. Widen the period, pick "
        "another environment, or check `production_environments` in `flightdeck.toml` "
        "(deployments to other environments do not count).",
        icon=":material/filter_alt_off:",
    )
    st.stop()

now, before = metric_views(current), metric_views(previous)
weekly = [metric_views(point.summary) for point in data.trend]
for column, (index, view) in zip(st.columns(5), enumerate(now), strict=True):
    with column:
        spark = [week[index].value for week in weekly]
        st.metric(
            view.short,
            view.text,
            delta=change(view, before[index]),
            delta_color="normal" if view.higher_is_better else "inverse",
            delta_description=f"vs previous {filters.days} days",
            chart_data=[value for value in spark if value is not None],
            chart_type="bar" if view.key == "deployment_frequency" else "line",
            border=True,
            help=f"{view.title}, weekly trend below. Previous {filters.days} days: "
            f"{before[index].text}.",
        )
        if view.tier:
            st.badge(view.tier, color=TIER_BADGES[view.tier])  # type: ignore[arg-type]
        elif view.key == "deployment_rework_rate":
            st.badge(f"2025 mean ~{REWORK_RATE_2025_MEAN:.0%}", color="gray")
        else:
            st.badge("no data", color="gray")
        st.button(
            view.samples,
            key=f"drill_{view.key}",
            type="tertiary",
            icon=":material/table_rows:",
            on_click=_drill,
            args=(view.key,),
        )

ttr = current.time_to_restore
extra = st.columns([3, 2, 1])
extra[0].button(
    f"Time to restore (pre-2023): median {hours(ttr.median_hours)} over {ttr.samples} incidents",
    key="drill_time_to_restore",
    type="tertiary",
    on_click=_drill,
    args=("time_to_restore",),
)
extra[1].button(
    f"{current.unattributed_incidents} unattributed incidents",
    key="drill_unattributed_incidents",
    type="tertiary",
    on_click=_drill,
    args=("unattributed_incidents",),
)

st.subheader("What moved")
st.markdown("\n".join(f"- {line}" for line in what_moved(current, previous, filters.days)))

st.subheader(f"By {by}")
groups = current.groups or ()
table = pd.DataFrame(
    [
        {
            by: group.name or "(no team)",
            "deploys/day": group.deployment_frequency.per_day,
            "frequency tier": group.deployment_frequency.tier,
            "lead time (h, median)": group.change_lead_time.median_hours,
            "lead tier": group.change_lead_time.tier or "-",
            "fail rate": percent(group.change_fail_rate.rate),
            "fail tier": group.change_fail_rate.tier or "-",
            "recovery (h, median)": group.failed_deployment_recovery_time.median_hours,
            "recovery tier": group.failed_deployment_recovery_time.tier or "-",
            "rework": percent(group.deployment_rework_rate.rate),
            "deployments": group.deployment_frequency.deployments,
        }
        for group in groups
    ]
)
selection = st.dataframe(
    style_tiers(table, TIERS) if not table.empty else table,
    hide_index=True,
    key=TABLE_KEY,
    on_select="rerun",
    selection_mode="single-row",
    column_config={
        "deploys/day": st.column_config.NumberColumn(format="%.2f"),
        "lead time (h, median)": st.column_config.NumberColumn(format="%.1f"),
        "recovery (h, median)": st.column_config.NumberColumn(format="%.1f"),
    },
)
st.caption("Click a column header to sort; select a row to narrow the rows below to it.")

metric = st.session_state.get(DRILL_KEY) or "deployment_frequency"
chosen = selection.selection.rows if selection else []
group = groups[chosen[0]].name if chosen and chosen[0] < len(groups) else None
narrow = f" · {by} {group}" if group else ""
st.subheader(f"Rows behind: {dashboard.DRILLS[metric]}{narrow}")
try:
    rows = dashboard.drill(
        filters,
        metric,
        service=group if by == "service" else None,
        team=group if by == "team" else None,
    )
except DatabaseUnavailable as exc:
    database_unavailable(exc)
if rows.empty:
    st.info("No rows behind this number in the window.", icon=":material/table_rows:")
else:
    if len(rows) >= dashboard.DRILL_LIMIT:
        st.caption(f"The newest {dashboard.DRILL_LIMIT:,} rows.")
    st.dataframe(
        rows,
        hide_index=True,
        key="drill_table",
        column_order=[column for column in rows.columns if column != "id"],
        column_config={
            "lead_hours": st.column_config.NumberColumn("lead time (h)", format="%.1f"),
            "recovery_hours": st.column_config.NumberColumn("recovery (h)", format="%.1f"),
            "restore_hours": st.column_config.NumberColumn("restore (h)", format="%.1f"),
        },
    )
