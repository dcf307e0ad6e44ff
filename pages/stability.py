"""Stability: fail and rework rates over time, deployments and incidents on one axis, recovery.

A view over one cached query (`ui.dashboard.stability_view`). The unattributed incidents
are listed on their own, since the fail rate leaves them out.
"""

from __future__ import annotations

import streamlit as st

from errors import DatabaseUnavailable
from metrics import REWORK_RATE_2025_MEAN
from ui import dashboard, page
from ui.banners import database_unavailable
from ui.charts import (
    FAILED_COLOR,
    KIND_COLORS,
    TimelineDeployment,
    TimelineIncident,
    distribution,
    timeline,
    trend_lines,
)
from ui.narrative import hours, percent

filters = page.start(
    "Stability", "How often changes fail, how much work is rework, and how fast service comes back."
)
try:
    data = dashboard.stability_view(filters)
except DatabaseUnavailable as exc:
    database_unavailable(exc)
summary = data.summary
if summary.deployment_frequency.deployments == 0 and not data.incidents:
    st.info(
        "No production deployments or incidents in this window. Configure an incident source "
        "(PagerDuty, Datadog) and a deployment source in `flightdeck.toml`, import `incident` "
        "and `deployment` records, or widen the period.",
        icon=":material/health_metrics:",
    )
    st.stop()

cfr, rework = summary.change_fail_rate, summary.deployment_rework_rate
fdrt = summary.failed_deployment_recovery_time
tiles = st.columns(4)
tiles[0].metric("Change fail rate", percent(cfr.rate), help=f"{cfr.failed} of {cfr.deployments}")
tiles[1].metric("Deployment rework rate", percent(rework.rate))
tiles[2].metric("Recovery time (median)", hours(fdrt.median_hours))
tiles[3].metric("Unattributed incidents", f"{summary.unattributed_incidents}")

starts = [point.start for point in data.trend]
st.plotly_chart(
    trend_lines(
        starts,
        {
            "change fail rate": [p.summary.change_fail_rate.rate for p in data.trend],
            "rework rate": [p.summary.deployment_rework_rate.rate for p in data.trend],
        },
        "Change fail rate and rework rate per week",
        percent=True,
        colors={"change fail rate": FAILED_COLOR, "rework rate": KIND_COLORS["hotfix"]},
        reference=(f"2025 rework mean ~{REWORK_RATE_2025_MEAN:.0%}", REWORK_RATE_2025_MEAN),
    ),
    key="rates_chart",
)
st.plotly_chart(
    timeline(
        [
            TimelineDeployment(d.finished_at, d.service, d.label, d.failed, d.external_id)
            for d in data.deployments
        ],
        [
            TimelineIncident(
                i.opened_at, i.resolved_at, i.service, i.external_id, i.deployment is not None
            )
            for i in data.incidents
        ],
        until=filters.until_at,
    ),
    key="timeline_chart",
)
left, right = st.columns(2)
with left:
    recoveries = data.failed["recovery_hours"].dropna().tolist()  # NaN: not yet restored
    if recoveries:
        st.plotly_chart(
            distribution(
                recoveries,
                f"Recovery time of {len(recoveries)} failed deployments",
                x_title="hours from deployment to restoration",
                color=FAILED_COLOR,
            ),
            key="recovery_chart",
        )
    else:
        st.info("No failed deployment was restored in this window.")
with right:
    st.markdown(f"**Failed deployments** ({len(data.failed)})")
    st.dataframe(
        data.failed,
        hide_index=True,
        key="failed_table",
        column_order=[c for c in data.failed.columns if c != "id"],
        column_config={"recovery_hours": st.column_config.NumberColumn(format="%.1f")},
    )
st.subheader(f"Unattributed incidents ({len(data.unattributed)})")
st.caption(
    "Production incidents no deployment is linked to (no deployment id, root-cause sha or "
    "version matched, and no deployment in the attribution window before them). They are "
    "not in the change fail rate; link them at the source if a change caused them."
)
st.dataframe(data.unattributed, hide_index=True, key="unattributed_table")
