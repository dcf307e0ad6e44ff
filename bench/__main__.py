"""Run every benchmark and print one table (`make bench`)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from bench.collectors_bench import collector_rows
from bench.common import run_measured, scratch_database
from bench.import_bench import bench_import, bench_import_inside
from bench.metrics_bench import metrics_rows
from bench.monitoring_bench import monitoring_rows
from bench.pages_bench import bench_pages

BACKENDS = ("sqlite", "postgresql")


def main(argv: list[str]) -> None:
    """Print import throughput/memory, the medium demo's time and the collector benchmarks."""
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
            rate = bench_import_inside(backend, 200_000, folder)
            rows.append(
                (
                    "import 200k lines, import_files alone (no process start)",
                    backend,
                    f"{200_000 / rate:.1f} s ({rate:,.0f} records/s)",
                    "-",
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
        if "--no-collectors" not in argv:
            rows.extend(collector_rows(BACKENDS, folder))
        if "--no-monitoring" not in argv:
            rows.extend(monitoring_rows(BACKENDS, folder))
        if "--no-metrics" not in argv:
            scale = (
                argv[argv.index("--metrics-scale") + 1] if "--metrics-scale" in argv else "large"
            )
            rows.extend(metrics_rows(scale))
        if "--no-pages" not in argv:
            scale = argv[argv.index("--pages-scale") + 1] if "--pages-scale" in argv else "medium"
            rows.extend((*row, "-") for row in bench_pages(scale))
    print("\n| benchmark | database | time | peak memory |\n|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
