"""The Releases and Audit pages in AppTest, on real databases: the captain's whole flow.

Request a promotion, have a second user approve it, promote, roll back with the typed
confirmation; double clicks are one effect; an analyst sees no action buttons.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import streamlit as st
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from streamlit.testing.v1 import AppTest

from models import AuditEvent, ReleaseAction
from releases.backends import http
from settings import PROJECT_ROOT
from tests.releases.data import deployment, purge_audit, store

APP = str(PROJECT_ROOT / "app.py")
T0 = datetime.now(UTC) - timedelta(days=3)
CONFIG = """
[services.api]
environments = ["staging", "production"]

[[gates]]
service = "api"
environment = "production"
approvals = 1
"""
OIDC = '[auth]\nmode = "oidc"\n[roles]\n"lee@acme.example" = "admin"\n'


@pytest.fixture
def config(
    db_url: str, sessions: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    path = tmp_path / "flightdeck.toml"
    path.write_text(CONFIG)
    monkeypatch.setenv("FLIGHTDECK_DATABASE_URL", db_url)
    monkeypatch.setenv("FLIGHTDECK_CONFIG", str(path))
    st.cache_data.clear()
    st.cache_resource.clear()
    store(
        sessions,
        deployment("production", "1.0", "aaaa0000", T0),
        deployment("production", "1.1", "aaaa1111", T0 + timedelta(days=1)),
        deployment("staging", "1.2", "aaaa2222", T0 + timedelta(days=2)),
    )
    yield path
    st.cache_data.clear()
    st.cache_resource.clear()
    purge_audit(sessions)


def releases_page(user: dict[str, object] | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30)
    if user is not None:
        at.user = user
    at.run()
    at.switch_page("pages/release_control.py").run()
    assert not at.exception
    return at


def acting_as(at: AppTest, name: str) -> None:
    at.text_input(key="demo_user").set_value(name).run()


def audit(sessions: sessionmaker[Session]) -> list[tuple[str, str, str]]:
    with sessions() as session:
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        return [(event.action, event.actor, event.outcome) for event in events]


def request_id(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalars(
            select(ReleaseAction.id).where(ReleaseAction.kind == "request")
        ).one()


def messages(at: AppTest) -> list[str]:
    return [element.value for element in [*at.success, *at.warning, *at.error]]


def test_request_approve_by_a_second_user_promote_and_roll_back(
    config: Path, sessions: sessionmaker[Session]
) -> None:
    at = releases_page()
    acting_as(at, "ana@acme.example")
    assert any("Running **1.1** since" in md.value for md in at.markdown)

    at.button(key="request_production").click().run()
    ident = request_id(sessions)
    assert messages(at)[0].startswith("pending: promotion of 1.2 to production requested")
    assert at.dataframe[0].value["result"].tolist() == ["? needs human"]

    # The requester gets no Approve button (the action would refuse it anyway).
    assert f"approve_{ident}" not in {button.key for button in at.button}

    acting_as(at, "bo@acme.example")
    at.text_input(key=f"comment_{ident}").set_value("checked the canary").run()
    at.button(key=f"approve_{ident}").click().run()
    assert messages(at)[0] == f"succeeded: approved promotion of 1.2 (request #{ident})"
    assert at.dataframe[0].value["result"].tolist() == ["✓ pass"]

    at.button(key=f"promote_{ident}").click().run()
    assert messages(at)[0] == "succeeded: recorded 1.2 (noop)"
    assert any("Running **1.2** since" in md.value for md in at.markdown)

    at.button(key="rollback_open_production").click().run()
    assert at.selectbox(key="rb_target").options == ["1.1", "1.0"]
    # AppTest reruns the whole page, not the dialog, so the dialog is filled in one go.
    at.selectbox(key="rb_target").set_value("1.0")
    at.text_input(key="rb_reason").set_value("latency doubled")
    at.text_input(key="rb_confirm_name").set_value("api")
    at.button(key="rb_confirm").click().run()

    assert not at.exception
    assert messages(at)[0] == "succeeded: recorded 1.0 (noop); production is now held"
    assert at.warning[0].value.startswith("Held by bo@acme.example since ")
    assert at.button(key="unhold_production").label == "Unhold"
    assert audit(sessions) == [
        ("request", "ana@acme.example", "pending"),
        ("approve", "bo@acme.example", "succeeded"),
        ("promote", "bo@acme.example", "succeeded"),
        ("rollback", "bo@acme.example", "succeeded"),
    ]


def test_a_production_rollback_without_the_typed_name_is_refused(
    config: Path, sessions: sessionmaker[Session]
) -> None:
    at = releases_page()

    at.button(key="rollback_open_production").click().run()
    at.text_input(key="rb_reason").set_value("bad")
    at.text_input(key="rb_confirm_name").set_value("ap")
    at.button(key="rb_confirm").click().run()

    assert messages(at)[0] == (
        "refused: rolling back production needs the service name 'api' typed to confirm"
    )
    assert audit(sessions) == [("rollback", "demo@localhost", "refused")]


def test_double_clicks_are_one_effect(
    config: Path,
    sessions: sessionmaker[Session],
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(http, "BACKOFF_SECONDS", 0.0)
    monkeypatch.setenv("FD_PAGE_SECRET", "page-secret")
    config.write_text(
        CONFIG + '[[backends]]\nservice = "api"\nenvironment = "production"\nkind = "webhook"\n'
        f'url = "{httpserver.url_for("/hooks")}"\nsecret_env = "FD_PAGE_SECRET"\n'
    )
    httpserver.expect_request("/hooks/promote").respond_with_json(
        {"operation_url": "https://deploy.example/op/1"}, status=202
    )
    at = releases_page()
    acting_as(at, "ana@acme.example")
    at.button(key="request_production").click().run()
    ident = request_id(sessions)
    acting_as(at, "bo@acme.example")
    at.button(key=f"approve_{ident}").click().run()
    assert messages(at)[0] == f"succeeded: approved promotion of 1.2 (request #{ident})"
    # Once decided, no second Approve: nothing is left to press again.
    assert f"approve_{ident}" not in {button.key for button in at.button}
    at.button(key=f"promote_{ident}").click().run()

    assert messages(at)[0] == "dispatched: webhook accepted 1.2"
    # Once acted on, the buttons are gone: nothing is left to press a second time.
    assert {"request_production", f"promote_{ident}"}.isdisjoint(b.key for b in at.button)
    assert len(httpserver.log) == 1
    assert json.loads(httpserver.log[0][0].get_data())["approvers"] == ["bo@acme.example"]
    assert audit(sessions) == [
        ("request", "ana@acme.example", "pending"),
        ("approve", "bo@acme.example", "succeeded"),
        ("promote", "bo@acme.example", "dispatched"),
    ]


def test_an_analyst_sees_the_board_but_no_action_buttons(
    config: Path, sessions: sessionmaker[Session]
) -> None:
    config.write_text(CONFIG + OIDC)
    captain = releases_page(
        {"is_logged_in": True, "email": "dana@acme.example", "roles": ["captain"]}
    )
    captain.button(key="request_production").click().run()
    ident = request_id(sessions)

    at = releases_page({"is_logged_in": True, "email": "vic@acme.example", "roles": ["analyst"]})

    assert at.caption[-1].value == "You are analyst: release actions need the captain role." or any(
        c.value == "You are analyst: release actions need the captain role." for c in at.caption
    )
    assert [button.key for button in at.button] == [f"reevaluate_{ident}", "logout"]
    assert at.dataframe[0].value["check"].tolist() == ["approvals"]


def test_roles_come_from_the_claim_and_the_config_map_wins(
    config: Path, sessions: sessionmaker[Session]
) -> None:
    config.write_text(CONFIG + OIDC)

    captain = releases_page({"is_logged_in": True, "email": "cy@acme.example", "roles": "captain"})
    admin = releases_page({"is_logged_in": True, "email": "lee@acme.example", "roles": []})
    nobody = releases_page({"is_logged_in": True, "email": "new@acme.example"})

    assert "request_production" in {button.key for button in captain.button}
    assert "Signed in as **lee@acme.example** (admin)" in [c.value for c in admin.sidebar.caption]
    assert "request_production" not in {button.key for button in nobody.button}


def test_signed_out_users_are_asked_to_sign_in(config: Path) -> None:
    config.write_text(CONFIG + OIDC)

    at = releases_page({"is_logged_in": False})

    assert at.info[-1].value == "Sign in to see release control."
    assert [button.key for button in at.button] == ["login"]


def test_the_audit_page_filters_and_offers_a_csv_to_analysts(
    config: Path, sessions: sessionmaker[Session]
) -> None:
    at = releases_page()
    at.button(key="rollback_open_production").click().run()
    at.button(key="rb_confirm").click().run()  # no reason: refused, and audited
    at.text_input(key="hold_reason_staging").set_value("flaky e2e").run()
    at.button(key="hold_staging").click().run()

    at.switch_page("pages/audit.py").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert table[["action", "subject", "outcome"]].values.tolist() == [
        ["hold", "api/staging", "succeeded"],
        ["rollback", "api/production", "refused"],
    ]
    at.multiselect(key="audit_outcomes").set_value(["refused"]).run()
    assert at.dataframe[0].value["message"].tolist() == ["a rollback needs a reason"]
    assert at.download_button(key="audit_csv").proto.label == "Download CSV"
