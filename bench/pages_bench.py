"""Dashboard speed: each page's first render and a filter change (AppTest), and a real browser.

For each backend the demo organisation is written to a scratch database and the derived
DORA tables are built (`cli.py recompute`, timed apart: it is the one-off cost after an
import, not a page's), and so are the Builds & tests rollups (`reports.test_rollup`,
timed apart too). At `--scale large` the demo data is not generated here: the cached
databases of `bench.metrics_bench` are used (`FLIGHTDECK_BENCH_DATA`, PostgreSQL schema
`fd_bench_large`; generated once if missing), migrated, and their derived tables brought
up to date incrementally (a no-op when a previous run did it).

Then, with empty Streamlit caches, every dashboard page is opened on the 90 days ending
at the demo's end (first render) and its service filter set to one service (filter
change), `--runs` times (median reported, default 3). Finally a Streamlit server is
started on the same database and headless Chromium times navigation to the Overview's
five sparklines being visible, on the server's first session (cold: imports and empty
caches) and a second one (warm).

    python -m bench.pages_bench [--scale small|medium|large] [--runs N]
        [--backend sqlite|postgresql] [--no-browser]
"""

from __future__ import annotations

import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.common import ROOT, scratch_database
from bench.metrics_bench import ensure_data

END = "2026-12-01"
WINDOW = ("2026-09-02", "2026-11-30")  # the 90 days ending at END, as the date filter shows
PAGES = (
    "pages/overview.py",
    "pages/deployments.py",
    "pages/stability.py",
    "pages/lead_time.py",
    "pages/builds_tests.py",
)
BACKENDS = ("sqlite", "postgresql")
RUNS = 3
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


def _prepare(env: dict[str, str]) -> tuple[float, float]:
    """Bring the DORA tables, then the Builds & tests rollups, up to date; seconds of each."""
    from metrics import EngineConfig
    from metrics import refresh as refresh_dora
    from models.db import make_engine, session_factory
    from reports.test_rollup import refresh as refresh_rollups
    from settings import load_settings

    os.environ.update(env)
    settings = load_settings()
    engine = make_engine(settings.database_url)
    sessions = session_factory(engine)
    started = time.perf_counter()
    with sessions.begin() as session:
        refresh_dora(session, EngineConfig.from_settings(settings))
    dora = time.perf_counter() - started
    started = time.perf_counter()
    with sessions.begin() as session:
        refresh_rollups(session)
    engine.dispose()
    return dora, time.perf_counter() - started


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
        _, rollups = _prepare(env)
        yield (
            env,
            (
                f"derived tables built ({scale}): DORA (`recompute`) + Builds & tests rollups",
                backend,
                f"{seconds:.1f} s + {rollups:.1f} s",
            ),
        )


@contextmanager
def cached_database(backend: str, scale: str, folder: Path) -> Iterator[tuple[dict[str, str], Row]]:
    """The cached demo database of `scale` (`bench.metrics_bench`), migrated and refreshed."""
    config = folder / "flightdeck.toml"
    config.write_text("")
    env = os.environ | {
        "FLIGHTDECK_DATABASE_URL": ensure_data(backend, scale),
        "FLIGHTDECK_CONFIG": str(config),
    }
    _cli(["init-db"], env)
    dora, rollups = _prepare(env)
    yield (
        env,
        (
            f"derived tables brought up to date ({scale}, cached): DORA + Builds & tests rollups",
            backend,
            f"{dora:.1f} s + {rollups:.1f} s",
        ),
    )


def _median(seconds: list[float]) -> str:
    return f"{statistics.median(seconds):.2f} s"


def apptest_rows(backend: str, env: dict[str, str], runs: int = RUNS) -> list[Row]:
    """First render and a service filter change of every dashboard page, in AppTest.

    Every page is measured `runs` times, the pages taking turns, and the medians reported.
    """
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    logging.getLogger("streamlit").setLevel(logging.ERROR)  # "no runtime" notes, not news
    os.environ.update(env)
    # Imports (pandas, plotly, the engine) are the process's start-up, not a page's render.
    AppTest.from_file(str(ROOT / "app.py"), default_timeout=600).run()
    firsts: dict[str, list[float]] = defaultdict(list)
    changes: dict[str, list[float]] = defaultdict(list)
    for _ in range(runs):
        for page in PAGES:
            st.cache_data.clear()
            st.cache_resource.clear()
            at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
            at.query_params["period"] = "Custom range"
            at.query_params["from_to"] = list(WINDOW)
            at.switch_page(page)
            started = time.perf_counter()
            at.run()
            firsts[page].append(time.perf_counter() - started)
            service = at.selectbox(key="service")
            service.set_value(service.options[1])
            started = time.perf_counter()
            at.run()
            changes[page].append(time.perf_counter() - started)
            if at.exception:
                msg = f"{page} failed: {at.exception[0].value}"
                raise RuntimeError(msg)
            took = f"{firsts[page][-1]:.2f} s / {changes[page][-1]:.2f} s"
            print(page, backend, took, flush=True)
    rows = []
    for page in PAGES:
        name = page.removeprefix("pages/").removesuffix(".py")
        rows.append(
            (
                f"{name}: first render / service filter (median of {runs})",
                backend,
                f"{_median(firsts[page])} / {_median(changes[page])}",
            )
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


def bench_pages(
    scale: str = "medium",
    *,
    browser: bool = True,
    runs: int = RUNS,
    backends: tuple[str, ...] = BACKENDS,
) -> list[Row]:
    """Every figure on each backend (large: on the cached databases, not generated here)."""
    rows: list[Row] = []
    database = cached_database if scale == "large" else demo_database
    with tempfile.TemporaryDirectory() as scratch:
        for backend in backends:
            with database(backend, scale, Path(scratch)) as (env, built):
                print(*built, sep=" | ", flush=True)
                rows.append(built)
                rows += apptest_rows(backend, env, runs)
                if browser:
                    rows.append(browser_row(backend, env))
    return rows


def main(argv: list[str]) -> None:
    """Print the dashboard table."""

    def option(name: str, default: str) -> str:
        return argv[argv.index(name) + 1] if name in argv else default

    scale = option("--scale", "medium")
    backend = option("--backend", "")
    rows = bench_pages(
        scale,
        browser="--no-browser" not in argv,
        runs=int(option("--runs", str(RUNS))),
        backends=(backend,) if backend else BACKENDS,
    )
    print(f"\n| dashboard ({scale} demo, 90 days) | database | time |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
