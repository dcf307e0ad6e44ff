"""Run every benchmark and print one table (`make bench`)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from bench.common import run_measured, scratch_database
from bench.import_bench import bench_import

BACKENDS = ("sqlite", "postgresql")


def main(argv: list[str]) -> None:
    """Print import throughput/memory for 50k and 200k lines and the medium demo's time."""
    rows: list[tuple[str, str, str, str]] = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for backend in BACKENDS:
            for lines in (50_000, 200_000):
                measured, rate = bench_import(backend, lines, folder)
                rows.append(
                    (
                        f"import {lines // 1000}k lines",
                        backend,
                        f"{measured.seconds:.1f} s ({rate:,.0f} records/s)",
                        f"{measured.peak_rss_mb:.0f} MB",
                    )
                )
                print(*rows[-1], sep=" | ", flush=True)
        if "--no-demo" not in argv:
            for backend in BACKENDS:
                with scratch_database(backend, folder) as url:
                    measured = run_measured(
                        ["demo", "--scale", "medium", "--end", "2026-12-01"], url
                    )
                rows.append(
                    (
                        "demo --scale medium",
                        backend,
                        f"{measured.seconds:.0f} s",
                        f"{measured.peak_rss_mb:.0f} MB",
                    )
                )
                print(*rows[-1], sep=" | ", flush=True)
    print("\n| benchmark | database | time | peak memory |\n|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
