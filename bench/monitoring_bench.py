"""Monitoring benchmarks: PagerDuty incidents, Datadog monitor events, OpenSearch error rates.

Fake servers (threads in this process) serve the documented shapes, built from the test
fixtures: PagerDuty's offset-paged `/incidents` (with `total`, for the window split),
Datadog's cursor-paged `POST /api/v2/events/search` (the real datadog-api-client reads
and type-checks every page), and OpenSearch's `_search` answering the error-rate
aggregation (35 services, 5-minute buckets). `cli.py collect` runs in a child process:
records/s and peak memory at two sizes each, up to 10k incidents and 100k monitor-state
points per source; memory must not grow with the size. A first row times the child's
start-up alone (imports, migrations), which every other row includes.

Run alone with `python -m bench.monitoring_bench [sqlite|postgresql]`.
"""

from __future__ import annotations

import json
import sys
import tempfile
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bench.collectors_bench import run_collect
from bench.common import ROOT, scratch_database

FIXTURES = ROOT / "tests" / "fixtures"
DAYS = 30
SERVICES = 35
BUCKET = timedelta(minutes=5)
Row = tuple[str, str, str, str]


def _fixture(path: str) -> Any:
    return json.loads((FIXTURES / path).read_text())


PD_TEMPLATE: dict[str, Any] = _fixture("pagerduty/incidents_page_1.json")["incidents"][0]
EVENT_TEMPLATE: dict[str, Any] = _fixture("datadog/events_search_page_1.json")["data"][0]


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


class FakeServer:
    """A threaded HTTP server whose GET/POST go to `respond(method, path, query, body)`."""

    def __init__(self, respond: Callable[[str, str, dict[str, str], Any], Any]) -> None:
        self.respond = respond
        self.requests = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Base URL of the fake."""
        return f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out as two writes; without TCP_NODELAY, Nagle's algorithm
            # and the client's delayed ACK would add 40 ms to every page.
            disable_nagle_algorithm = True

            def log_message(self, *_args: object) -> None:
                pass

            def _answer(self, method: str) -> None:
                fake.requests += 1
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                text = json.dumps(fake.respond(method, parts.path, query, body)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

        return Handler


def pagerduty(count: int, end: datetime) -> Callable[..., Any]:
    """`count` incidents evenly over the `DAYS` days before `end`, a quarter still open."""
    step = timedelta(days=DAYS) / count
    start = end - timedelta(days=DAYS)

    def item(index: int) -> dict[str, Any]:
        created = start + step * index
        resolved = index % 4 != 0
        return PD_TEMPLATE | {
            "id": f"P{index:07d}",
            "incident_number": index,
            "status": "resolved" if resolved else "acknowledged",
            "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "updated_at": (created + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "resolved_at": (created + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
            if resolved
            else None,
        }

    def respond(_method: str, path: str, query: dict[str, str], _body: Any) -> Any:
        if path.startswith("/incidents/"):
            return {"incident": item(int(path.rsplit("P", 1)[-1]))}
        since, until = _parse(query["since"]), _parse(query["until"])
        first = max(0, -int(-(since - start) / step))
        last = min(count, -int(-(until - start) / step))
        if query.get("total") == "true":
            return {"incidents": [], "limit": 1, "offset": 0, "more": True, "total": last - first}
        offset, limit = int(query["offset"]), int(query["limit"])
        chosen = range(first + offset, min(last, first + offset + limit))
        return {
            "incidents": [item(i) for i in chosen],
            "limit": limit,
            "offset": offset,
            "more": first + offset + limit < last,
            "total": None,
        }

    return respond


def datadog_events(count: int, end: datetime) -> Callable[..., Any]:
    """`count` monitor transitions over the `DAYS` days before `end`, cursor-paged."""
    step = timedelta(days=DAYS) / count
    start = end - timedelta(days=DAYS)

    def respond(_method: str, _path: str, _query: dict[str, str], body: Any) -> Any:
        offset = int(body["page"].get("cursor") or 0)
        limit = int(body["page"]["limit"])
        low, high = _parse(body["filter"]["from"]), _parse(body["filter"]["to"])
        first = max(0, -int(-(low - start) / step))
        last = min(count, -int(-(high - start) / step))
        chosen = range(first + offset, min(last, first + offset + limit))
        data = []
        for index in chosen:
            at = start + step * index
            attributes = EVENT_TEMPLATE["attributes"]
            data.append(
                EVENT_TEMPLATE
                | {
                    "id": f"AgAAAY{index:012d}",
                    "attributes": attributes
                    | {
                        "timestamp": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                        "tags": ["monitor", f"service:svc-{index % SERVICES}"],
                        "attributes": attributes["attributes"]
                        | {
                            "monitor_id": 7_000_000 + index % 500,
                            "status": "error" if index % 2 else "success",
                        },
                    },
                }
            )
        more = first + offset + limit < last
        return {"meta": {"page": {"after": str(offset + limit)} if more else {}}, "data": data}

    return respond


def opensearch_error_rates() -> Callable[..., Any]:
    """Error-rate aggregations for `SERVICES` services over whatever window is asked."""

    def respond(_method: str, _path: str, _query: dict[str, str], body: Any) -> Any:
        bounds = body["query"]["bool"]["filter"][0]["range"]["@timestamp"]
        low, high = _parse(bounds["gte"]), _parse(bounds["lt"])
        buckets = []
        at = low
        while at < high:
            key = int(at.timestamp() * 1000)
            logs = 150 + key // 300_000 % 100
            buckets.append({"key": key, "doc_count": logs, "errors": {"doc_count": logs % 7}})
            at += BUCKET
        services = [
            {"key": f"svc-{s}", "doc_count": 0, "buckets": {"buckets": buckets}}
            for s in range(SERVICES)
        ]
        return {
            "took": 5,
            "timed_out": False,
            "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
            "hits": {"total": {"value": 0, "relation": "eq"}, "hits": []},
            "aggregations": {"services": {"buckets": services}},
        }

    return respond


def _row(label: str, backend: str, records: int, seconds: float, peak: float) -> Row:
    return (
        label,
        backend,
        f"{seconds:.1f} s ({records / seconds:,.0f} records/s)",
        f"{peak:.0f} MB",
    )


def bench_source(
    backend: str, folder: Path, label: str, respond: Callable[..., Any], source: str, records: int
) -> Row:
    """One `cli.py collect` of a source against its fake; a row for the benchmark table."""
    with FakeServer(respond) as fake, scratch_database(backend, folder) as url:
        config = folder / "monitoring.toml"
        config.write_text(source.format(url=fake.url))
        measured = run_collect(url, config)
    return _row(label, backend, records, measured.seconds, measured.peak_rss_mb)


def bench_startup(backend: str, folder: Path) -> Row:
    """`cli.py collect` with nothing to collect: the start-up every other row includes."""
    config = folder / "empty.toml"
    config.write_text("")
    with scratch_database(backend, folder) as url:
        measured = run_collect(url, config)
    return (
        "collect start-up (imports, migrations; nothing to collect)",
        backend,
        f"{measured.seconds:.1f} s",
        f"{measured.peak_rss_mb:.0f} MB",
    )


def monitoring_rows(backends: tuple[str, ...], folder: Path) -> list[Row]:
    """Every monitoring benchmark on every backend, printing each row as it finishes."""
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    common = f'token_env = "BENCH_TOKEN"\nbackfill_days = {DAYS}\nsettle_minutes = 0\n'
    rows: list[Row] = []
    for backend in backends:
        rows.append(bench_startup(backend, folder))
        print(*rows[-1], sep=" | ", flush=True)
        cases = []
        for count in (5_000, 10_000):
            cases.append(
                (
                    f"pagerduty collect {count // 1000}k incidents",
                    pagerduty(count, end),
                    '[sources.pd]\nkind = "pagerduty"\nbase_url = "{url}"\nscopes = ["*"]\n'
                    + common,
                    count,
                )
            )
        for count in (50_000, 100_000):
            cases.append(
                (
                    f"datadog collect {count // 1000}k monitor events",
                    datadog_events(count, end),
                    '[sources.dd]\nkind = "datadog"\nbase_url = "{url}"\nscopes = ["*"]\n'
                    'app_key_env = "BENCH_TOKEN"\nstreams = ["monitor_events"]\n' + common,
                    count,
                )
            )
        for days in (5, 10):
            points = SERVICES * days * 24 * 12
            cases.append(
                (
                    f"opensearch collect {points // 1000}k error-rate points",
                    opensearch_error_rates(),
                    '[sources.os]\nkind = "opensearch"\nbase_url = "{url}"\nscopes = ["logs-*"]\n'
                    f'streams = ["error_rates"]\nversion_field = ""\nbackfill_days = {days}\n'
                    "settle_minutes = 0\n",
                    points,
                )
            )
        for label, respond, source, records in cases:
            rows.append(bench_source(backend, folder, label, respond, source, records))
            print(*rows[-1], sep=" | ", flush=True)
    return rows


if __name__ == "__main__":
    chosen = tuple(sys.argv[1:]) or ("sqlite", "postgresql")
    with tempfile.TemporaryDirectory() as scratch:
        table = monitoring_rows(chosen, Path(scratch))
    print("\n| benchmark | database | time | peak memory |\n|---|---|---|---|")
    for line in table:
        print("| " + " | ".join(line) + " |")
