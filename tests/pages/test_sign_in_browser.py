"""Sign-in with `st.login` against a local OpenID Connect provider, in a real browser.

A captain and an analyst sign in through the provider's page; the captain gets the
release buttons, the analyst only the board.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session, sessionmaker

from tests.pages.browser import chromium, free_port, have_chromium, streamlit_server
from tests.pages.fake_idp import CLIENT_ID, running_provider
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


USERS = {"dana@acme.example": ["captain"], "vic@acme.example": ["analyst"]}


@pytest.fixture
def seeded(sessions: sessionmaker[Session]) -> Iterator[None]:
    store(
        sessions,
        deployment("production", "1.1", "aaaa1111", T0),
        deployment("staging", "1.2", "aaaa2222", T0 + timedelta(days=1)),
    )
    yield
    purge_audit(sessions)


def sign_in(page: Page, base: str, email: str) -> None:
    open_releases(page, base)
    expect(page.get_by_text("Sign in to see release control.")).to_be_visible(timeout=WAIT_MS)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name=f"Sign in as {email}").click()
    page.wait_for_url(re.compile(re.escape(base)), timeout=WAIT_MS)
    open_releases(page, base)
    expect(page.get_by_text(f"Signed in as {email}")).to_be_visible(timeout=WAIT_MS)


def test_a_captain_and_an_analyst_see_different_buttons(
    seeded: None, db_url: str, tmp_path: Path
) -> None:
    port = free_port()
    (tmp_path / "flightdeck.toml").write_text(CONFIG + '[auth]\nmode = "oidc"\n')
    with running_provider(USERS) as provider:
        secrets = tmp_path / "secrets.toml"
        secrets.write_text(
            "[auth]\n"
            f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
            'cookie_secret = "a-test-cookie-secret-of-some-length"\n'
            f'client_id = "{CLIENT_ID}"\nclient_secret = "test-client-secret"\n'
            f'server_metadata_url = "{provider.base}/.well-known/openid-configuration"\n'
        )
        env = {
            "FLIGHTDECK_DATABASE_URL": db_url,
            "FLIGHTDECK_CONFIG": str(tmp_path / "flightdeck.toml"),
        }
        with streamlit_server(env, port=port, secrets=secrets) as base, chromium() as browser:
            captain = browser.new_page(viewport={"width": 1400, "height": 2000})
            sign_in(captain, base, "dana@acme.example")
            expect(captain.get_by_text("Signed in as dana@acme.example (captain)")).to_be_visible()
            expect(captain.get_by_role("button", name="Request promotion of 1.2")).to_be_visible(
                timeout=WAIT_MS
            )
            captain.get_by_role("button", name="Log out").click()
            captain.wait_for_url(f"{base}/", timeout=WAIT_MS)
            open_releases(captain, base)
            expect(captain.get_by_text("Sign in to see release control.")).to_be_visible(
                timeout=WAIT_MS
            )

            analyst = browser.new_page(viewport={"width": 1400, "height": 2000})
            sign_in(analyst, base, "vic@acme.example")
            expect(
                analyst.get_by_text("You are analyst: release actions need the captain role.")
            ).to_be_visible(timeout=WAIT_MS)
            # The last element has streamed in, so an absent button is really absent.
            expect(analyst.get_by_text("Running 1.1 since")).to_be_visible(timeout=WAIT_MS)
            assert analyst.get_by_role("button", name="Request promotion of 1.2").count() == 0
            assert analyst.get_by_role("button", name="Hold").count() == 0
