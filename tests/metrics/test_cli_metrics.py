"""`python cli.py metrics` and `recompute` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from tests.conftest import FIXTURES
from tests.test_cli import run_cli

HISTORY = FIXTURES / "metrics" / "history.ndjson"
WINDOW = ("--since", "2026-03-02", "--until", "2026-03-09T00:00:00Z")


def approx_floats(value: Any) -> Any:
    """`value` with every float compared approximately (p90s interpolate in floating point)."""
    if isinstance(value, dict):
        return {key: approx_floats(item) for key, item in value.items()}
    if isinstance(value, float):
        return pytest.approx(value, rel=1e-12)
    return value


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "flightdeck.toml"
    path.write_text('[services.api]\nteam = "payments"\n[services.web]\nteam = "growth"\n')
    return path


@pytest.fixture
def loaded(db_url: str, config: Path) -> str:
    result = run_cli("import", str(HISTORY), db_url=db_url, config=config)
    assert result.returncode == 0, result.stderr
    result = run_cli("init-db", db_url=db_url, config=config)
    assert result.returncode == 0, result.stderr
    return db_url


def test_metrics_json_prints_exactly_the_design_shape_with_hand_computed_values(
    loaded: str, config: Path
) -> None:
    result = run_cli("metrics", "--json", *WINDOW, db_url=loaded, config=config)

    assert result.returncode == 0, result.stderr
    expected = json.loads((FIXTURES / "metrics" / "history.expected.json").read_text())
    assert json.loads(result.stdout) == approx_floats(expected)


def test_metrics_by_team_adds_groups_sorted_by_name(loaded: str, config: Path) -> None:
    result = run_cli("metrics", "--json", *WINDOW, "--by", "team", db_url=loaded, config=config)

    assert result.returncode == 0, result.stderr
    groups = json.loads(result.stdout)["groups"]
    assert [g["name"] for g in groups] == ["growth", "payments"]
    assert [g["deployment_frequency"]["deployments"] for g in groups] == [1, 6]
    assert set(groups[0]) == {"name", *json.loads(result.stdout).keys()} - {"groups"}


def test_metrics_one_service_window(loaded: str, config: Path) -> None:
    result = run_cli("metrics", "--json", *WINDOW, "--service", "web", db_url=loaded, config=config)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["deployment_frequency"]["deployments"] == 1


def test_metrics_without_json_prints_a_readable_table(loaded: str, config: Path) -> None:
    result = run_cli("metrics", *WINDOW, db_url=loaded, config=config)

    assert result.returncode == 0, result.stderr
    assert "Change fail rate" in result.stdout
    assert "tiers: 2023 report" in result.stdout


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("--service", "nope"), "error: --service: unknown service 'nope'"),
        (("--team", "nobody"), "error: --team: no service belongs to team 'nobody'"),
        (("--since", "2026-13-01"), "error: --since: not an ISO date or date-time: '2026-13-01'"),
        (("--since", "2026-03-09", "--until", "2026-03-02"), "error: --until (2026-03-02"),
        (("--by", "region"), "error: --by: expected service or team, not 'region'"),
        (("--benchmark", "2019"), "error: --benchmark: unknown report year 2019"),
    ],
)
def test_bad_filters_exit_1_with_a_one_line_reason(
    db_url: str, config: Path, args: tuple[str, ...], reason: str
) -> None:
    result = run_cli("metrics", "--json", *args, db_url=db_url, config=config)

    assert result.returncode == 1
    assert result.stderr.startswith(reason)
    assert result.stderr.count("\n") == 1
    assert result.stdout == ""


def test_recompute_rebuilds_and_reports(loaded: str, config: Path) -> None:
    result = run_cli("recompute", db_url=loaded, config=config)

    assert result.returncode == 0, result.stderr
    # The history holds deployments and incidents but no builds.
    assert result.stdout.strip() == (
        "Recomputed the DORA attribution of 2 services and "
        "0 (service, day) build and test summaries."
    )


def test_help_says_times_without_a_zone_are_utc(tmp_path: Path) -> None:
    result = run_cli(
        "metrics", "--help", db_url=f"sqlite:///{tmp_path}/x.db", config=tmp_path / "none.toml"
    )

    assert result.returncode == 0
    assert "UTC when it has no zone" in " ".join(result.stdout.split())


def test_recompute_leaves_no_dead_rows_behind_on_postgresql(loaded: str, config: Path) -> None:
    if not loaded.startswith("postgresql"):
        pytest.skip("SQLite keeps no dead rows to vacuum")
    engine = create_engine(loaded)

    result = run_cli("recompute", db_url=loaded, config=config)

    assert result.returncode == 0, result.stderr
    with engine.connect() as connection:
        # Vacuum statistics are sent to the collector asynchronously: wait for them.
        connection.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
        vacuumed = connection.exec_driver_sql(
            "SELECT relname, last_vacuum IS NOT NULL, last_analyze IS NOT NULL"
            " FROM pg_stat_user_tables WHERE schemaname = current_schema()"
            " AND relname IN ('deployment_commits', 'deployment_attributions')"
            " ORDER BY relname"
        ).all()
    engine.dispose()
    assert [tuple(row) for row in vacuumed] == [
        ("deployment_attributions", True, True),
        ("deployment_commits", True, True),
    ]
