"""Lead time: how long changes take to reach production, its spread, trend, outliers and stages.

A view over one cached query (`ui.dashboard.lead_time_view`). The coding / review /
waiting split needs pull-request data and the catalog's `repos` for each service.
"""

from __future__ import annotations

import streamlit as st

from errors import DatabaseUnavailable
from ui import dashboard, page
from ui.banners import database_unavailable
from ui.charts import distribution, stage_bars, trend_lines
from ui.narrative import hours

filters = page.start(
    "Lead time", "From a commit's authoring to its first production deployment, per commit."
)
try:
    data = dashboard.lead_time_view(filters)
except DatabaseUnavailable as exc:
    database_unavailable(exc)
lead = data.summary.change_lead_time
if lead.samples == 0:
    st.info(
        "No lead-time samples in this window: no production deployment shipped a commit "
        "with a known authoring time. Collect commits (a `git` or `github` source, or "
        "`commit` records) for the services' repositories, or widen the period.",
        icon=":material/timer:",
    )
    st.stop()

tiles = st.columns(3)
tiles[0].metric("Median", hours(lead.median_hours), help=f"Tier: {lead.tier or '-'}")
tiles[1].metric("p90", hours(lead.p90_hours))
tiles[2].metric("Commits measured", f"{lead.samples:,}")

left, right = st.columns(2)
with left:
    st.plotly_chart(
        distribution(data.hours, "Lead time per commit", x_title="hours"),
        key="lead_distribution",
    )
with right:
    st.plotly_chart(
        trend_lines(
            [point.start for point in data.trend],
            {
                "median": [p.summary.change_lead_time.median_hours for p in data.trend],
                "p90": [p.summary.change_lead_time.p90_hours for p in data.trend],
            },
            "Median and p90 per week",
            y_title="hours",
        ),
        key="lead_trend",
    )

st.subheader("Where the time goes (pull requests)")
if not data.pull_requests.empty:
    st.plotly_chart(
        stage_bars(
            data.stage_medians,
            f"Median of {len(data.pull_requests):,} pull requests merged in the window",
        ),
        key="stage_chart",
    )
else:
    st.info(
        "No pull requests merged in the window for the selected services. The split needs "
        "pull-request data (a `github` or `gitlab` source, or `pull_request` records) and "
        "each service's `repos` in the catalog."
    )

st.subheader("Slowest changes")
st.dataframe(
    data.slowest,
    hide_index=True,
    key="slowest_table",
    column_config={"lead_hours": st.column_config.NumberColumn("lead time (h)", format="%.1f")},
)
if not data.pull_requests.empty:
    with st.expander("Pull requests behind the split"):
        st.dataframe(data.pull_requests, hide_index=True, key="stages_table")
