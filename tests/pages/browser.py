"""A real Streamlit server and headless Debian Chromium for end-to-end page tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

from settings import PROJECT_ROOT

CHROMIUM = "/usr/bin/chromium"
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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def streamlit_server(
    env: dict[str, str], port: int | None = None, secrets: Path | None = None
) -> Iterator[str]:
    """Serve app.py headless on a free port until the block ends; yields its base URL."""
    port = port or free_port()
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(PROJECT_ROOT / "app.py"),
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "viewer",
    ]
    if secrets is not None:
        command += ["--secrets.files", str(secrets)]
    server = subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        env=os.environ | env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        while True:  # until healthy; the test's own timeout bounds this
            if server.poll() is not None:
                msg = f"streamlit exited with {server.returncode}"
                raise RuntimeError(msg)
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as answer:  # noqa: S310 - local test server
                    if answer.read() == b"ok":
                        break
            except OSError:
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


@contextmanager
def chromium() -> Iterator[Browser]:
    """Headless Debian Chromium driven by Playwright (no `playwright install` needed)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def have_chromium() -> bool:
    return Path(CHROMIUM).is_file()
