"""A real Flightdeck server on demo data and a headless Chromium driving it (Playwright).

The server is started the way `make run` starts it (`cli.py init-db`, `cli.py demo`,
`streamlit run app.py`), on a free port and a throwaway SQLite file. The browser is Debian's
`/usr/bin/chromium` (Playwright never downloads one here); `.ci/run` installs it when
missing. Screenshots go to `artifacts/e2e/`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from settings import PROJECT_ROOT

CHROMIUM = Path(os.environ.get("FLIGHTDECK_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = PROJECT_ROOT / "artifacts" / "e2e"
# Without the background-networking flags Chromium keeps dialling Google on this closed network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_healthy(url: str, server: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"streamlit exited with code {server.returncode}", pytrace=False)
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:  # noqa: S310 - our own localhost server
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"streamlit did not become healthy at {url}", pytrace=False)


@pytest.fixture(scope="session")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a running Flightdeck app on small demo data."""
    folder = tmp_path_factory.mktemp("e2e")
    config = folder / "flightdeck.toml"
    config.write_text("")
    env = os.environ | {
        "FLIGHTDECK_DATABASE_URL": f"sqlite:///{folder / 'flightdeck.db'}",
        "FLIGHTDECK_CONFIG": str(config),
    }
    cli = [sys.executable, str(PROJECT_ROOT / "cli.py")]
    subprocess.run([*cli, "init-db"], env=env, check=True, capture_output=True)
    subprocess.run([*cli, "demo", "--scale", "small"], env=env, check=True, capture_output=True)
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(PROJECT_ROOT / "app.py"),
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
            "--client.toolbarMode",
            "viewer",
        ],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, server)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=20)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium; missing Chromium fails under CI and skips on a laptop."""
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        message = f"{CHROMIUM} is missing (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh tall page (Streamlit scrolls an inner container, so full-page shots clip)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1600})
    opened = context.new_page()
    yield opened
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    opened.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
    context.close()
