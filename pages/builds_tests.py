"""Builds & tests: pipeline success and duration; failing, flaky, regressed, slow tests; test kinds.

A view over one cached query (`ui.dashboard.builds_view`). Team and service filter the
builds; builds have no environment, so an environment keeps the builds of the services
that run there (the catalog's `environments`, or where a service not in the catalog has
deployed), and the page says so.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from errors import DatabaseUnavailable
from ui import dashboard, page
from ui.banners import database_unavailable
from ui.charts import StackedPoint, by_series, stacked_bars, trend_lines

TOP_PIPELINES = 8

filters = page.start(
    "Builds & tests",
    "Is CI healthy: which pipelines fail or slow down, and which tests to fix first.",
)
try:
    health = dashboard.builds_view(filters)
except DatabaseUnavailable as exc:
    database_unavailable(exc)
if filters.environment:
    count = len(health.services or ())
    st.caption(
        f"Environment `{filters.environment}`: the builds of the {count:,} "
        f"service{'' if count == 1 else 's'} that run there (listed in the service's "
        "`environments` in `flightdeck.toml`, or, for a service not listed, deployed there)."
    )
if health.is_empty:
    st.info(
        "No finished builds in this window. Configure a CI source (GitHub Actions, GitLab, "
        "Jenkins) or a `junit` source for test reports in `flightdeck.toml`, import `build` "
        "and `test_case` records, or widen the period"
        + (" or pick another environment." if filters.environment else "."),
        icon=":material/science:",
    )
    st.stop()

builds = sum(p.builds for p in health.pipelines)
succeeded = sum(p.succeeded for p in health.pipelines)
tiles = st.columns(4)
tiles[0].metric("Finished builds", f"{builds:,}")
tiles[1].metric("Success rate", f"{succeeded / builds:.1%}")
tiles[2].metric("Flaky tests", f"{len(health.flaky)}")
tiles[3].metric("Regressions", f"{len(health.regressions)}")

top = [p.name for p in health.pipelines[:TOP_PIPELINES]]
starts, success = by_series(
    [(t.start, t.health.name, t.health.success_rate) for t in health.pipeline_trend], top
)
_, slow = by_series(
    [(t.start, t.health.name, t.health.p90_minutes) for t in health.pipeline_trend], top
)

left, right = st.columns(2)
with left:
    st.plotly_chart(
        trend_lines(starts, success, "Success rate per week", percent=True),
        key="success_chart",
    )
with right:
    st.plotly_chart(
        trend_lines(starts, slow, "p90 duration per week", y_title="minutes"),
        key="duration_chart",
    )
if len(health.pipelines) > TOP_PIPELINES:
    st.caption(f"Charts show the {TOP_PIPELINES} busiest pipelines; the table has them all.")
st.dataframe(
    pd.DataFrame(
        [
            {
                "pipeline": p.name,
                "builds": p.builds,
                "success rate": p.success_rate,
                "p50 (min)": p.p50_minutes,
                "p90 (min)": p.p90_minutes,
            }
            for p in health.pipelines
        ]
    ),
    hide_index=True,
    key="pipelines_table",
    column_config={
        "success rate": st.column_config.ProgressColumn(format="percent", min_value=0, max_value=1),
        "p50 (min)": st.column_config.NumberColumn(format="%.1f"),
        "p90 (min)": st.column_config.NumberColumn(format="%.1f"),
    },
)

st.plotly_chart(
    stacked_bars(
        [StackedPoint(k.start, k.kind, k.tests) for k in health.kinds],
        "Tests run per week by kind",
        order=health.kind_names,
        y_title="distinct tests",
    ),
    key="kinds_chart",
)
st.caption("Kinds come from the `test_suite_types` patterns in `flightdeck.toml`.")

failing, flaky = st.columns(2)
with failing:
    st.subheader("Most failing tests")
    st.dataframe(
        pd.DataFrame(
            [
                {"failed builds": t.failures, "builds": t.builds, "kind": t.kind, "test": t.label}
                for t in health.most_failing
            ],
            columns=["failed builds", "builds", "kind", "test"],
        ),
        hide_index=True,
        key="failing_table",
    )
with flaky:
    st.subheader("Flaky tests")
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "flips": f.test.flakes,
                    "builds": f.test.builds,
                    "test": f.test.label,
                    "flipped in": ", ".join(b.external_id for b in f.builds),
                }
                for f in health.flaky
            ],
            columns=["flips", "builds", "test", "flipped in"],
        ),
        hide_index=True,
        key="flaky_table",
    )
    st.caption("Flipped: failed, then passed on a retry in the same build (newest builds).")

st.subheader("Regressions")
st.caption("Tests that passed on a branch's previous build and fail on its latest.")
st.dataframe(
    pd.DataFrame(
        [
            {
                "test": r.test,
                "service": r.build.service,
                "branch": r.build.branch,
                "build": r.build.external_id,
                "finished_at": r.build.finished_at,
                "passed in": r.previous.external_id,
                "message": r.message,
            }
            for r in health.regressions
        ],
        columns=["test", "service", "branch", "build", "finished_at", "passed in", "message"],
    ),
    hide_index=True,
    key="regressions_table",
)
st.subheader("Slowest tests")
st.dataframe(
    pd.DataFrame(
        [
            {"mean (s)": t.mean_seconds, "builds": t.builds, "kind": t.kind, "test": t.label}
            for t in health.slowest
        ],
        columns=["mean (s)", "builds", "kind", "test"],
    ),
    hide_index=True,
    key="slowest_tests_table",
    column_config={"mean (s)": st.column_config.NumberColumn(format="%.2f")},
)
