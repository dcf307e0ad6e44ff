"""Shared pieces of the collector tests: settings for a local fake server, a fixed clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from collectors.runner import Runner
from collectors.streams import configured_streams
from integrations.http import RetryPolicy
from models import CollectorState
from settings import Settings

NOW = datetime(2026, 1, 5, 16, 0, tzinfo=UTC)
TOKEN = "ghp_test-token-never-printed"


@pytest.fixture
def make_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Settings]:
    """Build Settings from keyword arguments only (an empty config file, no FLIGHTDECK_*)."""
    config = tmp_path / "flightdeck.toml"
    config.write_text("")
    monkeypatch.setenv("FLIGHTDECK_CONFIG", str(config))

    def build(**values: Any) -> Settings:
        return Settings(**values)

    return build


class Sleeps(list[float]):
    """Records the waits a client asked for instead of sleeping."""


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make_runner(sessions: sessionmaker[Session], sleeps: Sleeps) -> Callable[..., Runner]:
    def build(settings: Settings, now: datetime = NOW, **values: Any) -> Runner:
        defaults: dict[str, Any] = {
            "environ": {"GH_TOKEN": TOKEN},
            "clock": lambda: now,
            "sleep": sleeps.append,
            "retry": RetryPolicy(attempts=3, backoff_s=0.01, max_backoff_s=0.05),
        }
        return Runner(sessions, settings, **(defaults | values))

    return build


def run_streams(runner: Runner) -> list[Any]:
    """Run every configured stream of the runner's settings."""
    return runner.run_all(configured_streams(runner.settings))


def cursor_of(sessions: sessionmaker[Session], stream: str) -> dict[str, Any] | None:
    with sessions() as session:
        cursor: dict[str, Any] | None = session.scalars(
            select(CollectorState.cursor).where(CollectorState.stream == stream)
        ).one()
    return cursor
