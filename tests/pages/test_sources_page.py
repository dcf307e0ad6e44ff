"""The Sources page: each stream's status and last error, and the admin's "Run now"."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from streamlit.testing.v1 import AppTest

from collectors.runner import Runner
from collectors.streams import configured_streams
from models import CollectRequest
from settings import PROJECT_ROOT, load_settings

APP = str(PROJECT_ROOT / "app.py")
CONFIG = """
[sources.gh]
kind = "github"
token_env = "FLIGHTDECK_TEST_UNSET_TOKEN"
scopes = ["acme/api", "acme/web"]
streams = ["workflow_runs"]
"""


@pytest.fixture
def app_env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("FLIGHTDECK_DATABASE_URL", db_url)
    monkeypatch.setenv("FLIGHTDECK_CONFIG", str(tmp_path / "flightdeck.toml"))
    monkeypatch.delenv("FLIGHTDECK_TEST_UNSET_TOKEN", raising=False)
    (tmp_path / "flightdeck.toml").write_text(CONFIG)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


def test_the_sources_page_lists_each_stream_with_its_error_and_files_run_now(
    app_env: None, sessions: sessionmaker[Session]
) -> None:
    settings = load_settings()
    streams = configured_streams(settings)
    Runner(sessions, settings, environ={}).run(streams[0])  # fails: the token is not set

    at = AppTest.from_file(APP, default_timeout=30).run()
    at.switch_page("pages/sources.py").run()

    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["stream"]) == ["gh:workflow_runs:acme/api", "gh:workflow_runs:acme/web"]
    assert list(table["status"]) == ["failed", "not run yet"]
    assert list(table["lag"]) == ["never", "never"]
    assert table["last_error"][0] == (
        "connection 'gh': the environment variable FLIGHTDECK_TEST_UNSET_TOKEN "
        "(its token_env) is not set"
    )
    assert "1 of 2 streams failed" in at.warning[0].value

    at.selectbox(key="run_now_stream").select("gh:workflow_runs:acme/web").run()
    at.button(key="run_now").click().run()

    assert not at.exception
    with sessions() as session:
        request = session.scalars(select(CollectRequest)).one()
    assert (request.stream, request.requested_by) == ("gh:workflow_runs:acme/web", "demo@localhost")
    assert list(at.dataframe[0].value["status"])[1] == "run requested"
