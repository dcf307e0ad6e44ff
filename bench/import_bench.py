"""Import throughput and memory: a generated NDJSON file imported on SQLite and PostgreSQL.

The file mixes record types as a real CI export does (per commit: a build and its test
cases; deployments and incidents now and then). Peak memory is measured for two file sizes
to show it does not grow with the file. `cli.py import` is timed as a whole process; the
import alone (`import_files`, after the interpreter has loaded its modules) is timed too,
in a child process: `python -m bench.import_bench inside URL FILE`.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import ROOT, Measured, run_measured, scratch_database

INSIDE_RUNS = 3


def write_events(path: Path, lines: int, seed: int = 1) -> None:
    """Write `lines` valid NDJSON records to `path`."""
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    parent: str | None = None
    written = 0
    with path.open("w") as out:

        def emit(record: dict[str, object]) -> None:
            nonlocal written
            if written < lines:
                out.write(json.dumps(record) + "\n")
                written += 1

        number = 0
        while written < lines:
            number += 1
            at = start + timedelta(minutes=7 * number)
            sha = hashlib.sha1(f"{seed}-{number}".encode(), usedforsecurity=False).hexdigest()
            service = f"svc-{number % 20}"
            emit(
                {
                    "type": "commit",
                    "repo": f"acme/{service}",
                    "sha": sha,
                    "parents": [parent] if parent else [],
                    "authored_at": at.isoformat(),
                    "author": f"dev{number % 30}",
                    "message": f"change {number}",
                }
            )
            parent = sha
            build = f"b-{number}"
            emit(
                {
                    "type": "build",
                    "id": build,
                    "repo": f"acme/{service}",
                    "service": service,
                    "pipeline": "ci",
                    "branch": "main",
                    "sha": sha,
                    "status": "success" if rng.random() > 0.1 else "failure",
                    "started_at": (at + timedelta(minutes=1)).isoformat(),
                    "finished_at": (at + timedelta(minutes=9)).isoformat(),
                }
            )
            for test in range(10):
                emit(
                    {
                        "type": "test_case",
                        "build_id": build,
                        "suite": f"tests/test_{test % 3}.py",
                        "classname": "TestApi",
                        "name": f"test_{test}",
                        "outcome": "passed" if rng.random() > 0.02 else "failed",
                        "duration_s": round(rng.expovariate(2), 3),
                    }
                )
            if number % 5 == 0:
                emit(
                    {
                        "type": "deployment",
                        "id": f"d-{number}",
                        "service": service,
                        "environment": "production",
                        "sha": sha,
                        "version": f"1.{number}.0",
                        "status": "success",
                        "started_at": (at + timedelta(minutes=10)).isoformat(),
                        "finished_at": (at + timedelta(minutes=15)).isoformat(),
                    }
                )
            if number % 40 == 0:
                emit(
                    {
                        "type": "incident",
                        "id": f"i-{number}",
                        "service": service,
                        "severity": "sev3",
                        "opened_at": (at + timedelta(hours=1)).isoformat(),
                        "resolved_at": (at + timedelta(hours=2)).isoformat(),
                    }
                )


def bench_import(backend: str, lines: int, folder: Path) -> tuple[Measured, float]:
    """Import a fresh `lines`-line file into an empty database; return the run and records/s."""
    path = folder / f"events-{lines}.ndjson"
    if not path.exists():
        write_events(path, lines)
    with scratch_database(backend, folder) as url:
        run_measured(["init-db"], url)
        measured = run_measured(["import", str(path)], url)
    return measured, lines / measured.seconds


def bench_import_inside(backend: str, lines: int, folder: Path) -> float:
    """Records/s of `import_files` alone into an empty database (median of a few runs)."""
    path = folder / f"events-{lines}.ndjson"
    if not path.exists():
        write_events(path, lines)
    rates = []
    for _ in range(INSIDE_RUNS):
        with scratch_database(backend, folder) as url:
            run_measured(["init-db"], url)
            env = os.environ | {"FLIGHTDECK_CONFIG": os.devnull}
            seconds = subprocess.run(
                [sys.executable, "-m", "bench.import_bench", "inside", url, str(path)],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            rates.append(lines / float(seconds))
    return statistics.median(rates)


def _inside(url: str, path: Path) -> None:
    """Print the seconds `import_files` takes for `path` (the modules are loaded first)."""
    from ingest.ndjson import import_files
    from models.db import make_engine, session_factory

    engine = make_engine(url)
    started = time.perf_counter()
    import_files(session_factory(engine), [path])
    print(time.perf_counter() - started)
    engine.dispose()


if __name__ == "__main__":
    if sys.argv[1:2] == ["inside"]:
        _inside(sys.argv[2], Path(sys.argv[3]))
