"""Pages render through AppTest on real databases, and stay views (no SQL, HTTP or collectors)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from sqlalchemy.orm import Session, sessionmaker
from streamlit.testing.v1 import AppTest

from ingest.ndjson import import_files
from settings import PROJECT_ROOT
from tests.conftest import FIXTURES

APP = str(PROJECT_ROOT / "app.py")
PAGES = sorted(
    str(path.relative_to(PROJECT_ROOT)) for path in (PROJECT_ROOT / "pages").glob("*.py")
)
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


def test_overview_counts_what_was_imported(app_env: None, sessions: sessionmaker[Session]) -> None:
    import_files(sessions, [FIXTURES / "ndjson" / "valid.ndjson"])

    at = AppTest.from_file(APP, default_timeout=30).run()

    assert not at.exception
    values = metric_values(at)
    assert values["Deployments"] == "2"
    assert values["Test cases"] == "2"
    assert values["Commits"] == "2"
    assert (
        at.caption[0].value == "Data from 2026-03-01 10:00 to 2026-03-02 13:00 UTC"
    )  # the incident opened last


def test_an_unreachable_database_shows_a_banner_not_a_traceback(
    app_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLIGHTDECK_DATABASE_URL", f"sqlite:///{tmp_path}/never-migrated.db")

    at = AppTest.from_file(APP, default_timeout=30).run()

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
