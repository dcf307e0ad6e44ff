"""Dashboard pages on demo data (AppTest): they render, show the engine's numbers, follow filters.

One demo organisation is written per backend for the whole module (a few seconds each);
every test opens the app on a fixed custom window over it through the URL, as a shared
link would.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime

import numpy as np
import pytest
import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from streamlit.testing.v1 import AppTest

from ingest.demo import Scale, write_demo
from metrics import Filters, dora_summary
from metrics.derived import prepare
from metrics.drilldown import failed_deployments
from metrics.summary import Period, bucket_boundaries
from models import Base
from models.db import session_factory
from reports import delivery
from reports.build_health import BuildScope, build_health, services_in_environment
from settings import PROJECT_ROOT, Settings
from ui.charts import TIER_BADGES
from ui.narrative import frequency, hours, percent

APP = str(PROJECT_ROOT / "app.py")
END = datetime(2026, 6, 1, tzinfo=UTC)
SINCE, LAST_DAY = "2026-04-17", "2026-05-31"
WINDOW = Filters(since=datetime(2026, 4, 17, tzinfo=UTC), until=END)
# Each page and the charts it must draw on demo data.
CHARTS = {
    "pages/overview.py": 0,  # sparklines live inside the tiles
    "pages/deployments.py": 1,
    "pages/stability.py": 3,
    "pages/lead_time.py": 3,
    "pages/builds_tests.py": 3,
}


@pytest.fixture(scope="module")
def demo(
    migrated_engine: Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[sessionmaker[Session]]:
    """A small demo organisation in the test database, and the app pointed at it."""
    sessions = session_factory(migrated_engine)
    write_demo(sessions, Scale(services=4, days=45), seed=7, end=END)
    config = tmp_path_factory.mktemp("config") / "flightdeck.toml"
    config.write_text("")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FLIGHTDECK_DATABASE_URL", migrated_engine.url.render_as_string(False))
        patch.setenv("FLIGHTDECK_CONFIG", str(config))
        yield sessions
    with migrated_engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


def open_app(page: str = "pages/overview.py", **params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["period"] = "Custom range"
    at.query_params["from_to"] = [SINCE, LAST_DAY]
    for name, value in params.items():
        at.query_params[name] = value
    at.switch_page(page).run()
    assert not at.exception
    return at


def tiles(at: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in at.metric}


def buttons(at: AppTest) -> dict[str, str]:
    return {str(button.key): button.label for button in at.button if button.key}


@pytest.mark.parametrize("page", list(CHARTS))
def test_every_dashboard_page_draws_its_charts_on_demo_data(
    demo: sessionmaker[Session], page: str
) -> None:
    at = open_app(page)

    assert len(at.get("plotly_chart")) == CHARTS[page]
    assert at.dataframe, "every page lists the rows behind its charts"
    assert not [info.value for info in at.info if "No " in info.value]


def bar_total(at: AppTest) -> float:
    """The sum of every bar of the page's first plotly chart (plotly 7 sends arrays base64)."""
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    total = 0.0
    for trace in spec["data"]:
        ys = trace["y"]
        if isinstance(ys, dict):
            ys = np.frombuffer(base64.b64decode(ys["bdata"]), ys["dtype"])
        total += float(sum(ys))
    return total


def test_the_weekly_deployment_bars_add_up_to_the_deployments_counted(
    demo: sessionmaker[Session],
) -> None:
    with demo.begin() as session:
        counted = dora_summary(session, WINDOW).deployment_frequency.deployments
    at = open_app("pages/deployments.py")

    assert bar_total(at) == counted
    at.segmented_control(key="stack").set_value("service").run()
    assert bar_total(at) == counted


def test_the_overview_tiles_show_the_engines_numbers(demo: sessionmaker[Session]) -> None:
    with demo.begin() as session:
        summary = dora_summary(session, WINDOW)

    at = open_app()

    shown = tiles(at)
    assert shown["Deploy frequency"] == frequency(summary.deployment_frequency.per_day)
    assert shown["Lead time"] == hours(summary.change_lead_time.median_hours)
    assert shown["Change fail rate"] == percent(summary.change_fail_rate.rate)
    assert shown["Rework rate"] == percent(summary.deployment_rework_rate.rate)
    cfr = summary.change_fail_rate
    assert buttons(at)["drill_change_fail_rate"] == f"{cfr.failed} of {cfr.deployments} deployments"
    badges = [m.value for m in at.markdown if "-badge[" in m.value]
    tier = summary.deployment_frequency.tier
    assert badges[0] == f":{TIER_BADGES[tier]}-badge[{tier}]"


def test_choosing_a_service_shows_that_services_numbers(demo: sessionmaker[Session]) -> None:
    at = open_app()
    org = buttons(at)["drill_deployment_frequency"]
    service = at.selectbox(key="service").options[1]
    with demo.begin() as session:
        own = dora_summary(session, Filters(since=WINDOW.since, until=END, services=(service,)))

    at.selectbox(key="service").set_value(service).run()

    assert not at.exception
    count = own.deployment_frequency.deployments
    assert buttons(at)["drill_deployment_frequency"] == f"{count:,} deployments"
    assert buttons(at)["drill_deployment_frequency"] != org
    assert at.dataframe[0].value["service"].tolist() == [service]


def test_a_shorter_window_counts_fewer_deployments(demo: sessionmaker[Session]) -> None:
    at = open_app()
    before = buttons(at)["drill_deployment_frequency"]
    with demo.begin() as session:
        week = dora_summary(
            session, Filters(since=datetime(2026, 5, 25, tzinfo=UTC), until=END)
        ).deployment_frequency.deployments

    at.date_input(key="from_to").set_value((date(2026, 5, 25), date(2026, 5, 31))).run()

    assert buttons(at)["drill_deployment_frequency"] == f"{week:,} deployments" != before


def test_a_shared_link_opens_with_its_filters(demo: sessionmaker[Session]) -> None:
    at = open_app()
    service = at.selectbox(key="service").options[2]

    shared = open_app(service=service, by="team")

    assert shared.selectbox(key="service").value == service
    assert shared.dataframe[0].value.columns[0] == "team"


def test_the_fail_rate_button_lists_exactly_the_failed_deployments(
    demo: sessionmaker[Session],
) -> None:
    with demo.begin() as session:
        expected = [f.deployment.external_id for f in failed_deployments(session, WINDOW)]
    at = open_app()

    at.button(key="drill_change_fail_rate").click().run()

    assert at.subheader[-1].value == "Rows behind: Change fail rate"
    assert at.dataframe[-1].value["deployment"].tolist() == expected
    assert expected, "the demo always has failed deployments"


def test_picking_a_failed_deployment_shows_why_it_failed(demo: sessionmaker[Session]) -> None:
    with demo.begin() as session:
        failed = failed_deployments(session, WINDOW)[0].deployment
        detail = delivery.deployment_detail(session, prepare(session, WINDOW), failed.id)
    assert detail is not None
    at = open_app("pages/deployments.py")

    at.selectbox(key="deployment").set_value(failed.id).run()

    assert not at.exception
    assert tiles(at)["Failed"] == "yes"
    assert at.error[0].value.startswith("Failed deployment: ")
    for cause in detail.causes:
        assert f"{cause.rule} by {cause.by}" in at.error[0].value
    assert f"**Shipped commits** ({len(detail.commits)})" in [m.value for m in at.markdown]


def test_an_environment_keeps_the_builds_of_the_services_that_run_there(
    demo: sessionmaker[Session],
) -> None:
    with demo.begin() as session:
        running = services_in_environment(session, "staging", {})
        since, until = WINDOW.since, END
        assert since is not None
        scope = BuildScope(
            since, until, running, tuple(bucket_boundaries(since, until, Period.week))
        )
        builds = sum(
            p.builds for p in build_health(session, scope, Settings().test_suite_types).pipelines
        )

    at = open_app("pages/builds_tests.py", env="staging")

    assert tiles(at)["Finished builds"] == f"{builds:,}"
    said = f"the builds of the {len(running):,} services that run there"
    assert [c.value for c in at.caption if said in c.value]
