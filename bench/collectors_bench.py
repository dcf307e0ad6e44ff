"""Collector benchmarks: GitHub workflow runs from a local fake server, and JUnit folders.

GitHub: a fake API (a thread in this process) serves N workflow runs over 100 days in the
documented list shape, with `created` filtering, the 1,000-result cap, Link pagination and
ETags. `cli.py collect` runs twice in a child process: the first collection stores every
run (records/s, peak memory for 10k and 50k runs: memory must not grow with N); the
second, unchanged one re-reads the whole window (lookback = the backfill) and must cost
only conditional requests, each answered 304. Jobs are not fetched (`build_jobs = false`):
the run listing is what grows with history.

JUnit: 1,000 pytest-style reports of 50 test cases in 100 build folders (files/s, cases/s).

Run alone with `python -m bench.collectors_bench [sqlite|postgresql]`.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bench.common import ROOT, scratch_database

REPO = "acme/api"
DAYS = 100
PER_PAGE = 100
CAP = 1000
TEMPLATE = json.loads((ROOT / "tests/fixtures/github/runs_page_2.json").read_text())[
    "workflow_runs"
][0]


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


class FakeGitHub:
    """N completed runs, evenly spread over the `DAYS` days before `end`, newest first."""

    def __init__(self, runs: int, end: datetime) -> None:
        self.runs = runs
        self.end = end
        self.step = timedelta(days=DAYS) / runs
        self.statuses: Counter[int] = Counter()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Base URL of the fake API."""
        return f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> FakeGitHub:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _created(self, index: int) -> datetime:
        # index 0 is the newest run
        return self.end - self.step * (index + 1)

    def _window(self, created: str) -> range:
        if created.startswith(">="):
            low, high = _parse(created[2:]), self.end
        else:
            first, last = created.split("..")
            low, high = _parse(first), _parse(last) + timedelta(seconds=1)
        newest = max(0, int((self.end - high) / self.step) - 1)
        while newest < self.runs and self._created(newest) >= high:
            newest += 1
        oldest = min(self.runs, max(newest, int((self.end - low) / self.step) - 1))
        while oldest < self.runs and self._created(oldest) >= low:
            oldest += 1
        while oldest > newest and self._created(oldest - 1) < low:
            oldest -= 1
        return range(newest, oldest)

    def page(self, created: str, page: int) -> tuple[dict[str, Any], int]:
        """One page of the listing for a `created` filter, and how many runs it lists."""
        window = self._window(created)
        shown = window[:CAP]
        chunk = shown[(page - 1) * PER_PAGE : page * PER_PAGE]
        runs = []
        for index in chunk:
            created_at = self._created(index)
            run_id = 900_000_000 + (self.runs - index)
            runs.append(
                TEMPLATE
                | {
                    "id": run_id,
                    "run_number": self.runs - index,
                    "head_sha": hashlib.sha1(str(run_id).encode()).hexdigest(),  # noqa: S324
                    "created_at": _iso(created_at),
                    "run_started_at": _iso(created_at + timedelta(seconds=5)),
                    "updated_at": _iso(created_at + timedelta(minutes=7)),
                    "html_url": f"https://github.com/{REPO}/actions/runs/{run_id}",
                }
            )
        return {"total_count": len(window), "workflow_runs": runs}, len(shown)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the real API

            def log_message(self, *_args: object) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                page = int(query.get("page", "1"))
                body, shown = fake.page(query["created"], page)
                text = json.dumps(body).encode()
                etag = '"' + hashlib.sha256(text).hexdigest()[:32] + '"'
                if self.headers.get("If-None-Match") == etag:
                    fake.statuses[304] += 1
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                fake.statuses[200] += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("ETag", etag)
                if page * PER_PAGE < shown:
                    query["page"] = str(page + 1)
                    following = "&".join(f"{k}={v}" for k, v in query.items())
                    self.send_header("Link", f'<{fake.url}{parts.path}?{following}>; rel="next"')
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

        return Handler


@dataclass(frozen=True)
class Measured:
    """A finished child process: wall time and peak memory."""

    seconds: float
    peak_rss_mb: float


def run_collect(database_url: str, config: Path) -> Measured:
    """Run `python cli.py collect` with a config file; return its wall time and peak RSS."""
    env = os.environ | {
        "FLIGHTDECK_DATABASE_URL": database_url,
        "FLIGHTDECK_CONFIG": str(config),
        "BENCH_TOKEN": "the-fake-server-accepts-anything",
    }
    with tempfile.TemporaryFile("w+") as out:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "cli.py"), "collect"], env=env, stdout=out, stderr=out
        )
        # wait4 (not Popen.wait) reaps the child and returns its own resource usage.
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            out.seek(0)
            msg = f"cli.py collect failed: {out.read().strip()}"
            raise RuntimeError(msg)
    return Measured(seconds, usage.ru_maxrss / 1024)


def bench_github(backend: str, runs: int, folder: Path) -> list[tuple[str, str, str, str]]:
    """Two collections of `runs` workflow runs; rows for the benchmark table."""
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    with FakeGitHub(runs, end) as fake, scratch_database(backend, folder) as url:
        config = folder / "github.toml"
        config.write_text(
            f'[sources.gh]\nkind = "github"\nbase_url = "{fake.url}"\ntoken_env = "BENCH_TOKEN"\n'
            f'scopes = ["{REPO}"]\nstreams = ["workflow_runs"]\nbuild_jobs = false\n'
            f"backfill_days = {DAYS + 2}\nlookback_minutes = {(DAYS + 2) * 24 * 60}\n"
        )
        first = run_collect(url, config)
        fetched = fake.statuses[200]
        fake.statuses.clear()
        second = run_collect(url, config)
    label = f"github collect {runs // 1000}k runs"
    return [
        (
            label,
            backend,
            f"{first.seconds:.1f} s ({runs / first.seconds:,.0f} runs/s, {fetched} pages)",
            f"{first.peak_rss_mb:.0f} MB",
        ),
        (
            f"{label}, again unchanged",
            backend,
            f"{second.seconds:.1f} s ({fake.statuses[304]} requests, all 304: "
            f"{fake.statuses[200]} full)",
            f"{second.peak_rss_mb:.0f} MB",
        ),
    ]


PYTEST_CASE = '<testcase classname="tests.test_mod{m}" name="test_{n}" time="0.0{n:02d}"{body}'


def write_reports(root: Path, files: int = 1000, cases: int = 50) -> None:
    """`files` pytest-style reports of `cases` test cases, ten per build folder."""
    for index in range(files):
        build = root / f"build-{index // 10:03d}"
        build.mkdir(parents=True, exist_ok=True)
        body = []
        for n in range(cases):
            failed = (index + n) % 17 == 0
            ending = '><failure message="assert 1 == 2">AssertionError</failure></testcase>'
            body.append(PYTEST_CASE.format(m=index % 10, n=n, body=ending if failed else " />"))
        (build / f"report-{index:04d}.xml").write_text(
            '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" '
            f'tests="{cases}">{"".join(body)}</testsuite></testsuites>'
        )


def bench_junit(backend: str, folder: Path) -> tuple[str, str, str, str]:
    """One collection of a folder of 1,000 reports; a row for the benchmark table."""
    reports = folder / "reports"
    write_reports(reports)
    config = folder / "junit.toml"
    config.write_text(f'[sources.ci]\nkind = "junit"\nscopes = ["{reports}"]\n')
    with scratch_database(backend, folder) as url:
        measured = run_collect(url, config)
    return (
        "junit collect 1,000 reports (50k cases)",
        backend,
        f"{measured.seconds:.1f} s ({1000 / measured.seconds:,.0f} files/s, "
        f"{50_000 / measured.seconds:,.0f} cases/s)",
        f"{measured.peak_rss_mb:.0f} MB",
    )


def collector_rows(backends: tuple[str, ...], folder: Path) -> list[tuple[str, str, str, str]]:
    """Every collector benchmark on every backend, printing each row as it finishes."""
    rows: list[tuple[str, str, str, str]] = []
    for backend in backends:
        for runs in (10_000, 50_000):
            for row in bench_github(backend, runs, folder):
                rows.append(row)
                print(*row, sep=" | ", flush=True)
        rows.append(bench_junit(backend, folder))
        print(*rows[-1], sep=" | ", flush=True)
    return rows


if __name__ == "__main__":
    chosen = tuple(sys.argv[1:]) or ("sqlite", "postgresql")
    with tempfile.TemporaryDirectory() as scratch:
        table = collector_rows(chosen, Path(scratch))
    print("\n| benchmark | database | time | peak memory |\n|---|---|---|---|")
    for line in table:
        print("| " + " | ".join(line) + " |")
