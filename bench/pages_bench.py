"""Dashboard speed: each page's first render and a filter change (AppTest), and a real browser.

For each backend the demo organisation is written to a scratch database and the derived
DORA tables are built (`cli.py recompute`, timed apart: it is the one-off cost after an
import, not a page's). Then, with empty Streamlit caches, every dashboard page is opened
on the 90 days ending at the demo's end (first render) and its service filter set to one
service (filter change). Finally a Streamlit server is started on the same database and
headless Chromium times navigation to the Overview's five sparklines being visible, on
the server's first session (cold: imports and empty caches) and a second one (warm).

    python -m bench.pages_bench [--scale small|medium|large] [--no-browser]
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.common import ROOT, scratch_database

END = "2026-12-01"
WINDOW = ("2026-09-02", "2026-11-30")  # the 90 days ending at END, as the date filter shows
PAGES = (
    "pages/overview.py",
    "pages/deployments.py",
    "pages/stability.py",
    "pages/lead_time.py",
    "pages/builds_tests.py",
)
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
Row = tuple[str, str, str]


def _cli(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), *args], env=env, check=True, capture_output=True
    )
    return time.perf_counter() - started


@contextmanager
def demo_database(backend: str, scale: str, folder: Path) -> Iterator[tuple[dict[str, str], Row]]:
    """A scratch database holding the demo at `scale` with its derived tables built."""
    config = folder / "flightdeck.toml"
    config.write_text("")
    with scratch_database(backend, folder) as url:
        env = os.environ | {"FLIGHTDECK_DATABASE_URL": url, "FLIGHTDECK_CONFIG": str(config)}
        _cli(["init-db"], env)
        _cli(["demo", "--scale", scale, "--end", END], env)
        seconds = _cli(["recompute"], env)
        yield env, (f"derived tables built ({scale})", backend, f"{seconds:.1f} s")


def apptest_rows(backend: str, env: dict[str, str]) -> list[Row]:
    """First render and a service filter change of every dashboard page, in AppTest."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    logging.getLogger("streamlit").setLevel(logging.ERROR)  # "no runtime" notes, not news
    os.environ.update(env)
    # Imports (pandas, plotly, the engine) are the process's start-up, not a page's render.
    AppTest.from_file(str(ROOT / "app.py"), default_timeout=600).run()
    rows = []
    for page in PAGES:
        st.cache_data.clear()
        st.cache_resource.clear()
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
        at.query_params["period"] = "Custom range"
        at.query_params["from_to"] = list(WINDOW)
        at.switch_page(page)
        started = time.perf_counter()
        at.run()
        first = time.perf_counter() - started
        service = at.selectbox(key="service")
        service.set_value(service.options[1])
        started = time.perf_counter()
        at.run()
        change = time.perf_counter() - started
        if at.exception:
            msg = f"{page} failed: {at.exception[0].value}"
            raise RuntimeError(msg)
        name = page.removeprefix("pages/").removesuffix(".py")
        rows.append(
            (f"{name}: first render / service filter", backend, f"{first:.2f} s / {change:.2f} s")
        )
        print(*rows[-1], sep=" | ", flush=True)
    return rows


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def browser_row(backend: str, env: dict[str, str]) -> Row:
    """Navigation to the Overview's five sparklines visible: cold, then warm."""
    from playwright.sync_api import sync_playwright

    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "app.py"),
            "--server.port",
            str(port),
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    url = f"{base}/?period=Custom+range&from_to={WINDOW[0]}&from_to={WINDOW[1]}"
    try:
        for _ in range(200):
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2):  # noqa: S310 - our own localhost server
                    break
            except OSError:
                time.sleep(0.3)
        times = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
            )
            for _ in range(2):
                context = browser.new_context(viewport={"width": 1400, "height": 1300})
                page = context.new_page()
                started = time.perf_counter()
                page.goto(url, wait_until="domcontentloaded")
                sparklines = page.locator('[data-testid="stMetricChart"] svg.marks')
                sparklines.nth(4).wait_for(state="visible", timeout=300_000)
                times.append(time.perf_counter() - started)
                context.close()
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    row = (
        "browser: Overview charts visible, cold / warm",
        backend,
        f"{times[0]:.1f} s / {times[1]:.1f} s",
    )
    print(*row, sep=" | ", flush=True)
    return row


def bench_pages(scale: str = "medium", *, browser: bool = True) -> list[Row]:
    """Every figure on SQLite and PostgreSQL."""
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as scratch:
        for backend in ("sqlite", "postgresql"):
            with demo_database(backend, scale, Path(scratch)) as (env, built):
                print(*built, sep=" | ", flush=True)
                rows.append(built)
                rows += apptest_rows(backend, env)
                if browser:
                    rows.append(browser_row(backend, env))
    return rows


def main(argv: list[str]) -> None:
    """Print the dashboard table."""
    scale = argv[argv.index("--scale") + 1] if "--scale" in argv else "medium"
    rows = bench_pages(scale, browser="--no-browser" not in argv)
    print(f"\n| dashboard ({scale} demo, 90 days) | database | time |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
