"""Schema migrations as functions: upgrade to the newest revision, or down to an older one."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from settings import PROJECT_ROOT


def _config(engine: Engine, connection: object) -> Config:
    config = Config(PROJECT_ROOT / "alembic.ini")
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Migrate the database behind `engine` up to `revision` (default: every branch's newest)."""
    with engine.begin() as connection:
        command.upgrade(_config(engine, connection), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate the database behind `engine` down to `revision` (`base` removes every table)."""
    with engine.begin() as connection:
        command.downgrade(_config(engine, connection), revision)
