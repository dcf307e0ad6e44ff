"""DORA engine speed and memory on demo data, SQLite and PostgreSQL, against naive pandas.

Cases (issue #3): the full attribution recompute; `metrics --json` for an org-wide 90-day
window, for one service, and with `--by service`. Each metrics case is a real
`python cli.py` process (median of several runs; the time includes interpreter start-up
and imports), plus the same query timed inside one process. The naive comparison loads
the deployments, commits and incidents tables into pandas and computes the same org-wide
summary from them with the same rules (no derived tables), in its own process.

Demo data takes long to generate, so it is generated once per scale and reused: a SQLite
file and a PostgreSQL schema named after the scale (`FLIGHTDECK_BENCH_DATA` sets the
folder, default `/tmp/fd-bench`). Run `python -m bench.metrics_bench [--scale large]`.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from bench.common import POSTGRES_URL, ROOT

END = "2026-12-01"
SINCE = (datetime.fromisoformat(END) - timedelta(days=90)).date().isoformat()
RUNS = 5


@dataclass(frozen=True)
class Row:
    """One line of the result table."""

    case: str
    database: str
    seconds: float
    peak_mb: float
    cpu_seconds: float
    note: str = ""


def _data_folder() -> Path:
    folder = Path(os.environ.get("FLIGHTDECK_BENCH_DATA", "/tmp/fd-bench"))  # noqa: S108
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def database_url(backend: str, scale: str) -> str:
    """The reusable benchmark database of a scale on a backend."""
    if backend == "sqlite":
        return f"sqlite:///{_data_folder() / f'{scale}.db'}"
    schema = f"fd_bench_{scale}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {schema}"))
    admin.dispose()
    return f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"


def _config() -> Path:
    path = _data_folder() / "empty.toml"
    path.touch()
    return path


@dataclass(frozen=True)
class Run:
    """A finished child process: wall and CPU seconds, peak RSS and output."""

    seconds: float
    peak_mb: float
    cpu_seconds: float
    stdout: str


def _run(args: list[str], url: str) -> Run:
    """Run a Python command line against `url` and measure it."""
    env = os.environ | {"FLIGHTDECK_DATABASE_URL": url, "FLIGHTDECK_CONFIG": str(_config())}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, *args], env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        if os.waitstatus_to_exitcode(status) != 0:
            msg = f"{' '.join(args)} failed: {err.read().strip()}"
            raise RuntimeError(msg)
        cpu = usage.ru_utime + usage.ru_stime
        return Run(seconds, usage.ru_maxrss / 1024, cpu, out.read())


def _cli(args: list[str], url: str) -> Run:
    return _run([str(ROOT / "cli.py"), *args], url)


def ensure_data(backend: str, scale: str) -> str:
    """Generate the scale's demo data once; return the database URL."""
    url = database_url(backend, scale)
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            stored = connection.execute(text("SELECT count(*) FROM deployments")).scalar()
    except Exception:  # noqa: BLE001 - a missing table means "not generated yet"
        stored = 0
    finally:
        engine.dispose()
    if not stored:
        run = _cli(["demo", "--scale", scale, "--end", END], url)
        print(f"generated {scale} demo data on {backend} in {run.seconds:.0f} s", flush=True)
    return url


def _first_service(url: str) -> str:
    engine = create_engine(url)
    with engine.connect() as connection:
        name = connection.execute(text("SELECT min(name) FROM services")).scalar()
    engine.dispose()
    return str(name)


def bench_backend(backend: str, scale: str) -> list[Row]:
    """Measure every case on one backend."""
    url = ensure_data(backend, scale)
    rows: list[Row] = []
    run = _cli(["recompute"], url)
    rows.append(
        Row(
            "attribution recompute (whole data set)",
            backend,
            run.seconds,
            run.peak_mb,
            run.cpu_seconds,
        )
    )
    print(rows[-1], flush=True)
    window = ["--since", SINCE, "--until", END]
    cases = {
        "metrics --json, org-wide 90 days": window,
        "metrics --json, one service 90 days": [*window, "--service", _first_service(url)],
        "metrics --json --by service, 90 days": [*window, "--by", "service"],
    }
    engine_seconds: dict[str, float] = {}
    for name, args in cases.items():
        runs = [_cli(["metrics", "--json", *args], url) for _ in range(RUNS)]
        inside = _run(["-m", "bench.metrics_bench", "inside", *args], url)
        engine_seconds[name] = float(inside.stdout)
        rows.append(
            Row(
                name,
                backend,
                statistics.median(run.seconds for run in runs),
                max(run.peak_mb for run in runs),
                statistics.median(run.cpu_seconds for run in runs),
                f"in-process query {engine_seconds[name]:.3f} s",
            )
        )
        print(rows[-1], flush=True)
    naive = _run(["-m", "bench.metrics_bench", "naive", *window], url)
    naive_seconds = float(naive.stdout)
    org = engine_seconds["metrics --json, org-wide 90 days"]
    rows.append(
        Row(
            "naive pandas, org-wide 90 days",
            backend,
            naive_seconds,
            naive.peak_mb,
            naive.cpu_seconds,
            f"{naive_seconds / org:.0f}x the engine's in-process query",
        )
    )
    print(rows[-1], flush=True)
    return rows


def _inside(args: list[str]) -> None:
    """Time `dora_summary` in this process (after imports and a warm-up refresh)."""
    from metrics import EngineConfig, Filters, GroupBy, dora_summary
    from models.db import make_engine, session_factory
    from settings import load_settings

    options = dict(zip(args[::2], args[1::2], strict=True))
    settings = load_settings()
    filters = Filters(
        since=datetime.fromisoformat(options["--since"]).replace(tzinfo=UTC),
        until=datetime.fromisoformat(options["--until"]).replace(tzinfo=UTC),
        services=(options["--service"],) if "--service" in options else (),
        config=EngineConfig.from_settings(settings),
    )
    by = GroupBy(options["--by"]) if "--by" in options else None
    sessions = session_factory(make_engine(settings.database_url))
    timings = []
    for _ in range(RUNS + 1):
        started = time.perf_counter()
        with sessions.begin() as session:
            dora_summary(session, filters, by=by)
        timings.append(time.perf_counter() - started)
    print(statistics.median(timings[1:]))


def _naive(args: list[str]) -> None:
    """Load the tables into pandas and compute the org-wide summary from scratch."""
    import pandas as pd

    from metrics.attribution import DeploymentFacts, IncidentFacts, attribute
    from metrics.benchmarks import BENCHMARKS
    from metrics.config import EngineConfig
    from metrics.graph import CommitGraph
    from metrics.stats import spread

    options = dict(zip(args[::2], args[1::2], strict=True))
    since = pd.Timestamp(options["--since"], tz="UTC")
    until = pd.Timestamp(options["--until"], tz="UTC")
    url = os.environ["FLIGHTDECK_DATABASE_URL"]
    started = time.perf_counter()
    engine = create_engine(url)
    with engine.connect() as connection:
        deployments = pd.read_sql("SELECT * FROM deployments WHERE status = 'success'", connection)
        commits = pd.read_sql("SELECT repo, sha, parents, authored_at FROM commits", connection)
        incidents = pd.read_sql("SELECT * FROM incidents", connection)
    for frame, columns in (
        (deployments, ("started_at", "finished_at")),
        (commits, ("authored_at",)),
        (incidents, ("opened_at", "resolved_at")),
    ):
        for column in columns:
            frame[column] = pd.to_datetime(frame[column], utc=True, format="mixed")
    rows = {
        name: frame.astype(object).where(frame.notna(), None).to_dict("records")
        for name, frame in (
            ("deployments", deployments),
            ("commits", commits),
            ("incidents", incidents),
        )
    }

    def listed(value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    parents: dict[str, dict[str, list[str]]] = {}
    authored: dict[str, dict[str, datetime]] = {}
    for commit in rows["commits"]:
        parents.setdefault(commit["repo"], {})[commit["sha"]] = listed(commit["parents"]) or []
        authored.setdefault(commit["repo"], {})[commit["sha"]] = commit["authored_at"]
    graphs = {repo: CommitGraph(parents[repo], authored[repo]) for repo in parents}
    facts = [
        DeploymentFacts(
            id=int(d["id"]),
            source=d["source"],
            external_id=d["external_id"],
            service=d["service"],
            environment=d["environment"],
            finished_at=d["finished_at"],
            started_at=d["started_at"],
            sha=d["sha"],
            version=d["version"],
            ref=d["ref"],
            repo=d["repo"],
            kind=d["kind"],
            fixes=d["fixes"],
            commits=None if listed(d["commits"]) is None else tuple(listed(d["commits"])),
        )
        for d in rows["deployments"]
    ]
    incident_facts = [
        IncidentFacts(
            id=int(i["id"]),
            source=i["source"],
            external_id=i["external_id"],
            service=i["service"],
            opened_at=i["opened_at"],
            environment=i["environment"],
            resolved_at=i["resolved_at"],
            deployment=i["deployment"],
            root_cause_sha=i["root_cause_sha"],
            version=i["version"],
        )
        for i in rows["incidents"]
    ]
    result = attribute(facts, incident_facts, graphs, EngineConfig())
    low, high = since, until
    counted = [d for d in result.deployments if low <= d.finished_at < high]
    ids = {d.deployment_id for d in counted}
    leads = [c.lead_time_us for c in result.shipped if c.deployment_id in ids and c.lead_time_us]
    failed = sum(1 for d in counted if d.failed and d.label != "rollback")
    benchmark = BENCHMARKS[2023]
    spread([lead for lead in leads if lead > 0])
    benchmark.fail_rate_tier(failed, len(counted))
    print(time.perf_counter() - started)


def main(argv: list[str]) -> list[Row]:
    """Measure on both backends and print the table."""
    if argv and argv[0] == "inside":
        _inside(argv[1:])
        return []
    if argv and argv[0] == "naive":
        _naive(argv[1:])
        return []
    scale = argv[argv.index("--scale") + 1] if "--scale" in argv else "large"
    rows = [row for backend in ("sqlite", "postgresql") for row in bench_backend(backend, scale)]
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"\n{scale} demo data; load average at the end {load} on {os.cpu_count()} CPUs\n")
    print(table(rows))
    return rows


def metrics_rows(scale: str) -> list[tuple[str, str, str, str]]:
    """The cases as rows of `bench/__main__.py`'s table."""
    rows = [row for backend in ("sqlite", "postgresql") for row in bench_backend(backend, scale)]
    return [
        (
            f"{r.case} ({scale})" + (f"; {r.note}" if r.note else ""),
            r.database,
            f"{r.seconds:.2f} s (CPU {r.cpu_seconds:.2f} s)",
            f"{r.peak_mb:.0f} MB",
        )
        for r in rows
    ]


def table(rows: list[Row]) -> str:
    """The rows as a Markdown table."""
    lines = [
        "| case | database | median seconds | CPU seconds | peak memory | note |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.case} | {r.database} | {r.seconds:.2f} | {r.cpu_seconds:.2f} | {r.peak_mb:.0f} MB"
        f" | {r.note} |"
        for r in rows
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main(sys.argv[1:])
