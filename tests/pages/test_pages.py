"""Pages render through AppTest on real databases, and stay views (no SQL, HTTP or collectors)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import streamlit as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from streamlit.testing.v1 import AppTest

from ingest.ndjson import import_files
from models import CollectorState, Deployment
from settings import PROJECT_ROOT
from tests.conftest import FIXTURES

APP = str(PROJECT_ROOT / "app.py")
PAGES = sorted(
    str(path.relative_to(PROJECT_ROOT)) for path in (PROJECT_ROOT / "pages").glob("*.py")
)
DASHBOARD = [
    "pages/overview.py",
    "pages/deployments.py",
    "pages/stability.py",
    "pages/lead_time.py",
    "pages/builds_tests.py",
]
FORBIDDEN = ("sqlalchemy", "httpx", "requests", "collectors", "integrations", "models")


@pytest.fixture
def app_env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("FLIGHTDECK_DATABASE_URL", db_url)
    monkeypatch.setenv("FLIGHTDECK_CONFIG", str(tmp_path / "flightdeck.toml"))
    (tmp_path / "flightdeck.toml").write_text("")
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


def metric_values(at: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in at.metric}


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_on_an_empty_database(app_env: None, page: str) -> None:
    at = AppTest.from_file(APP, default_timeout=30).run()
    at.switch_page(page).run()

    assert not at.exception
    assert "No delivery data yet" in at.info[-1].value


def open_march(page: str = "pages/overview.py") -> AppTest:
    """The app on the week of the imported fixture, through the URL."""
    at = AppTest.from_file(APP, default_timeout=30)
    at.query_params["period"] = "Custom range"
    at.query_params["from_to"] = ["2026-03-01", "2026-03-07"]
    return at.switch_page(page).run()


def test_overview_shows_the_metrics_of_what_was_imported(
    app_env: None, sessions: sessionmaker[Session]
) -> None:
    import_files(sessions, [FIXTURES / "ndjson" / "valid.ndjson"])

    at = open_march()

    assert not at.exception
    values = metric_values(at)
    assert values["Deploy frequency"] == "2.0/week"  # 2 deployments in 7 days
    assert values["Lead time"] == "4.1 h"  # b2b2b2b2: authored 08:00Z, live 12:05Z
    assert values["Change fail rate"] == "50.0%"  # dep-17 of 2, by incident INC-7
    assert values["Recovery time"] == "2.4 h"  # INC-7 resolved 14:30Z
    assert at.caption[1].value == "Showing 2026-03-01 to 2026-03-07 (7 days) · production."


def test_a_known_deployment_opens_with_its_commits_incident_and_recovery(
    app_env: None, sessions: sessionmaker[Session]
) -> None:
    import_files(sessions, [FIXTURES / "ndjson" / "valid.ndjson"])
    with sessions() as session:
        dep17 = session.scalar(select(Deployment.id).where(Deployment.external_id == "dep-17"))
    at = open_march("pages/deployments.py")

    at.selectbox(key="deployment").set_value(dep17).run()

    assert not at.exception
    assert metric_values(at) == {
        "Kind": "normal",
        "Finished": "2026-03-02",
        "Failed": "yes",
        "Restored after": "2.4 h",
    }
    assert (
        at.error[0].value == "Failed deployment: incident by INC-7; restored 2026-03-02 14:30 UTC."
    )
    commits = at.dataframe[1].value  # after the deployment list
    assert commits["sha"].tolist() == ["b2b2b2b2"]
    assert round(commits["lead time (h)"].iloc[0], 2) == 4.08
    incidents = at.dataframe[2].value
    assert incidents[["incident", "link rule"]].values.tolist() == [["INC-7", "deployment_id"]]


def test_a_source_that_stopped_succeeding_shows_a_stale_data_banner(
    app_env: None, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    (tmp_path / "flightdeck.toml").write_text(
        '[sources.github]\nkind = "github"\nscopes = ["acme/api"]\ninterval_minutes = 15\n'
    )
    import_files(sessions, [FIXTURES / "ndjson" / "valid.ndjson"])
    with sessions.begin() as session:
        session.add(
            CollectorState(
                connection="github",
                stream="workflow_runs",
                scope="acme/api",
                last_success_at=datetime.now(UTC) - timedelta(hours=2),
                consecutive_failures=4,
                last_error="HTTP 401",
            )
        )

    at = open_march()

    assert not at.exception
    assert at.warning[0].value.startswith("Data may be stale: `github:workflow_runs:acme/api`")


def test_an_unreachable_database_shows_a_banner_not_a_traceback(
    app_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLIGHTDECK_DATABASE_URL", f"sqlite:///{tmp_path}/never-migrated.db")

    at = AppTest.from_file(APP, default_timeout=30).run()

    assert not at.exception
    assert "the database cannot be read" in at.error[0].value


@pytest.mark.parametrize("page", DASHBOARD)
def test_every_dashboard_page_says_when_the_database_is_unreadable(
    app_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, page: str
) -> None:
    monkeypatch.setenv("FLIGHTDECK_DATABASE_URL", f"sqlite:///{tmp_path}/never-migrated.db")

    at = AppTest.from_file(APP, default_timeout=30).switch_page(page).run()

    assert not at.exception
    assert "the database cannot be read" in at.error[0].value


def test_a_broken_config_shows_the_problem(app_env: None, tmp_path: Path) -> None:
    (tmp_path / "flightdeck.toml").write_text("log_level = 'LOUD'\n")

    at = AppTest.from_file(APP, default_timeout=30).run()

    assert not at.exception
    assert "log_level: Input should be" in at.error[0].value


@pytest.mark.parametrize("page", PAGES)
def test_pages_import_no_data_or_http_layer(page: str) -> None:
    tree = ast.parse((PROJECT_ROOT / page).read_text())
    imported = [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    ] + [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]

    assert [name for name in imported if name.split(".")[0] in FORBIDDEN] == []
