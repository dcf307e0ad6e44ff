"""Shared benchmark plumbing: scratch databases on both backends and measured child processes."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_URL = os.environ.get(
    "FLIGHTDECK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@dataclass(frozen=True)
class Measured:
    """A finished child process: wall time, peak memory and output."""

    seconds: float
    peak_rss_mb: float
    stdout: str


@contextmanager
def scratch_database(backend: str, folder: Path) -> Iterator[str]:
    """Yield the URL of an empty database (SQLite file or PostgreSQL schema), then drop it."""
    if backend == "sqlite":
        path = folder / f"bench-{uuid.uuid4().hex[:8]}.db"
        yield f"sqlite:///{path}"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    schema = f"fd_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def run_measured(args: list[str], database_url: str) -> Measured:
    """Run `python cli.py ARGS` against a database; return its wall time and peak RSS."""
    env = os.environ | {"FLIGHTDECK_DATABASE_URL": database_url, "FLIGHTDECK_CONFIG": os.devnull}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "cli.py"), *args], env=env, stdout=out, stderr=err
        )
        # wait4 (not Popen.wait) reaps the child and returns its own resource usage.
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if process.returncode != 0:
            msg = f"cli.py {' '.join(args)} failed: {err.read().strip()}"
            raise RuntimeError(msg)
        return Measured(seconds, usage.ru_maxrss / 1024, out.read())
