"""The Releases page in a real browser: request, approve as a second user, promote, roll back."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from models import AuditEvent
from tests.pages.browser import chromium, have_chromium, streamlit_server
from tests.pages.test_releases_page import CONFIG, T0
from tests.releases.data import deployment, purge_audit, store

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not have_chromium(), reason="needs Debian chromium at /usr/bin/chromium"),
]
WAIT_MS = 45_000


def open_releases(page: Page, base: str) -> None:
    # Through the app's navigation: a direct /release_control URL would be served by
    # Streamlit's legacy pages/ discovery, without app.py around the page.
    page.goto(base, wait_until="domcontentloaded")
    page.get_by_role("link", name="Releases").click()


@pytest.fixture
def seeded(sessions: sessionmaker[Session]) -> Iterator[None]:
    from datetime import timedelta

    store(
        sessions,
        deployment("production", "1.0", "aaaa0000", T0),
        deployment("production", "1.1", "aaaa1111", T0 + timedelta(days=1)),
        deployment("staging", "1.2", "aaaa2222", T0 + timedelta(days=2)),
    )
    yield
    purge_audit(sessions)


def act_as(page: Page, name: str) -> None:
    field = page.get_by_role("textbox", name="Acting as")
    field.fill(name)
    field.press("Enter")
    expect(page.get_by_text(f"Signed in as {name}")).to_be_visible(timeout=WAIT_MS)


def press(page: Page, label: str) -> None:
    page.get_by_role("button", name=label, exact=True).click()


def test_a_captain_promotes_with_a_second_approver_and_rolls_back(
    seeded: None, sessions: sessionmaker[Session], db_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "flightdeck.toml"
    config.write_text(CONFIG)
    env = {"FLIGHTDECK_DATABASE_URL": db_url, "FLIGHTDECK_CONFIG": str(config)}
    with streamlit_server(env) as base, chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 2400})
        open_releases(page, base)
        act_as(page, "ana@acme.example")

        press(page, "Request promotion of 1.2")
        expect(page.get_by_text("pending: promotion of 1.2 to production requested")).to_be_visible(
            timeout=WAIT_MS
        )
        act_as(page, "bo@acme.example")
        page.get_by_role("textbox", name="Comment").fill("canary is clean")
        press(page, "Approve")
        expect(page.get_by_text("succeeded: approved promotion of 1.2")).to_be_visible(
            timeout=WAIT_MS
        )
        press(page, "Promote 1.2")
        expect(page.get_by_text("succeeded: recorded 1.2 (noop)")).to_be_visible(timeout=WAIT_MS)
        expect(
            page.get_by_text(re.compile(r"Running 1\.2 since .* by bo@acme\.example"))
        ).to_be_visible(timeout=WAIT_MS)

        press(page, "Roll back…")
        dialog = page.get_by_role("dialog")
        expect(dialog.get_by_text("runs 1.2 now")).to_be_visible(timeout=WAIT_MS)
        dialog.get_by_role("textbox", name="Reason").fill("p99 latency doubled")
        dialog.get_by_role("textbox", name="Reason").press("Enter")
        confirm = dialog.get_by_role("textbox", name="Type api to confirm a production rollback")
        confirm.fill("api")
        confirm.press("Enter")
        dialog.get_by_role("button", name="Roll back to 1.1").click()
        expect(
            page.get_by_text("succeeded: recorded 1.1 (noop); production is now held")
        ).to_be_visible(timeout=WAIT_MS)
        expect(page.get_by_text("Held by bo@acme.example since")).to_be_visible(timeout=WAIT_MS)
        page.screenshot(path=str(tmp_path / "releases.png"))

    with sessions() as session:
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        assert [(e.action, e.actor, e.outcome) for e in events] == [
            ("request", "ana@acme.example", "pending"),
            ("approve", "bo@acme.example", "succeeded"),
            ("promote", "bo@acme.example", "succeeded"),
            ("rollback", "bo@acme.example", "succeeded"),
        ]
