"""The command line as a user runs it: real processes, exit codes, one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from models import Deployment, Service
from settings import PROJECT_ROOT
from tests.conftest import FIXTURES

VALID = FIXTURES / "ndjson" / "valid.ndjson"


def run_cli(*args: str, db_url: str, config: Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"FLIGHTDECK_DATABASE_URL": db_url, "FLIGHTDECK_CONFIG": str(config)}
    return subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "cli.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "flightdeck.toml"
    path.write_text('[services.api]\nteam = "payments"\nrepos = ["acme/api"]\n')
    return path


@pytest.mark.parametrize("command", ["init-db", "demo", "import"])
def test_every_command_explains_itself(command: str, tmp_path: Path) -> None:
    result = run_cli(
        command, "--help", db_url=f"sqlite:///{tmp_path}/x.db", config=tmp_path / "none.toml"
    )

    assert result.returncode == 0
    assert "Usage:" in result.stdout


def test_init_db_migrates_and_loads_the_catalog(
    db_url: str, config: Path, sessions: sessionmaker[Session]
) -> None:
    result = run_cli("init-db", db_url=db_url, config=config)

    assert result.returncode == 0, result.stderr
    assert "1 services from the catalog" in result.stdout
    with sessions() as session:
        assert (
            session.scalars(select(Service.team).where(Service.name == "api")).one() == "payments"
        )


def test_import_reports_what_it_stored(
    db_url: str, config: Path, sessions: sessionmaker[Session]
) -> None:
    result = run_cli("import", str(VALID), db_url=db_url, config=config)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Read 11 lines; imported 1 builds, 2 commits, 2 deployments")
    with sessions() as session:
        assert len(session.scalars(select(Deployment)).all()) == 2


def test_import_of_an_invalid_file_lists_the_lines_and_exits_1(
    db_url: str, config: Path, tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    bad = tmp_path / "bad.ndjson"
    bad.write_text(VALID.read_text() + '{"type": "deployment", "id": "x"}\n')

    result = run_cli("import", str(bad), db_url=db_url, config=config)

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{bad}:13: deployment: missing field 'service'; deployment: missing field "
        "'environment'; deployment: missing field 'status'",
        "error: 1 invalid line; nothing was imported",
    ]
    with sessions() as session:
        assert session.scalars(select(Deployment)).all() == []


def test_import_skip_invalid_keeps_the_good_lines(
    db_url: str, config: Path, tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    bad = tmp_path / "bad.ndjson"
    bad.write_text(VALID.read_text() + "nonsense\n")

    result = run_cli("import", "--skip-invalid", str(bad), db_url=db_url, config=config)

    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith(f"skipped {bad}:13: invalid JSON")
    with sessions() as session:
        assert len(session.scalars(select(Deployment)).all()) == 2


def test_a_broken_config_file_stops_every_command_with_one_line(
    db_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "flightdeck.toml"
    config.write_text("[services.api]\nteam = 5\n")

    result = run_cli("init-db", db_url=db_url, config=config)

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("error: invalid configuration")
    assert "services.api.team: Input should be a valid string" in result.stderr


def test_demo_refuses_an_unknown_scale(db_url: str, config: Path) -> None:
    result = run_cli("demo", "--scale", "huge", db_url=db_url, config=config)

    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == "error: --scale: unknown scale 'huge' (expected small, medium, large)"
    )


def test_demo_if_empty_leaves_a_database_with_data_alone(
    db_url: str, config: Path, sessions: sessionmaker[Session]
) -> None:
    assert run_cli("import", str(VALID), db_url=db_url, config=config).returncode == 0

    result = run_cli("demo", "--if-empty", db_url=db_url, config=config)

    assert result.returncode == 0, result.stderr
    assert "already holds data" in result.stdout
    with sessions() as session:
        assert len(session.scalars(select(Deployment)).all()) == 2
