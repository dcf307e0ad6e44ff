"""Flightdeck's Streamlit entry point: page config, sign-in banner and navigation only."""

from __future__ import annotations

import streamlit as st

from ui.banners import auth_banner
from ui.context import settings_or_stop

st.set_page_config(page_title="Flightdeck", page_icon=":material/flight_takeoff:", layout="wide")
auth_banner(settings_or_stop())

# One st.Page per file in pages/, grouped as the sidebar shows them.
PAGES = {
    "Metrics": [
        st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
        st.Page("pages/deployments.py", title="Deployments", icon=":material/deployed_code:"),
        st.Page("pages/stability.py", title="Stability", icon=":material/health_metrics:"),
        st.Page("pages/lead_time.py", title="Lead time", icon=":material/timer:"),
        st.Page("pages/builds_tests.py", title="Builds & tests", icon=":material/science:"),
    ],
    "Releases": [
        st.Page("pages/release_control.py", title="Releases", icon=":material/rocket_launch:"),
        st.Page("pages/audit.py", title="Audit log", icon=":material/history:"),
    ],
    "Data": [st.Page("pages/sources.py", title="Sources", icon=":material/sync:")],
}
st.navigation(PAGES).run()
