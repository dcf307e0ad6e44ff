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
    ],
}
st.navigation(PAGES).run()
