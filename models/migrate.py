"""Schema migrations as functions: upgrade to the newest revision, or down to an older one.

Alembic is imported only when a migration runs: loading it and the migration scripts
costs a command line more than most commands' own work, and `is_current` answers the
usual question ("is there anything to do?") with one query.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from settings import PROJECT_ROOT

if TYPE_CHECKING:
    from alembic.config import Config

# The newest revision of each migration branch; tests/models/test_schema.py checks this
# against the scripts, so a new migration cannot be forgotten here.
HEADS = frozenset(
    {"0002_metrics", "0003_collectors", "0004_releases", "0005_test_rollup", "0006_read_indexes"}
)


def _config(connection: object) -> Config:
    from alembic.config import Config

    config = Config(PROJECT_ROOT / "alembic.ini")
    config.attributes["connection"] = connection
    return config


def is_current(engine: Engine) -> bool:
    """Whether the database behind `engine` is at every branch's newest revision."""
    try:
        with engine.connect() as connection:
            stored = connection.exec_driver_sql("SELECT version_num FROM alembic_version")
            return {str(version) for (version,) in stored} == HEADS
    except DBAPIError:  # no alembic_version table: an empty database
        return False


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Migrate the database behind `engine` up to `revision` (default: every branch's newest)."""
    from alembic import command

    with engine.begin() as connection:
        command.upgrade(_config(connection), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate the database behind `engine` down to `revision` (`base` removes every table)."""
    from alembic import command

    with engine.begin() as connection:
        command.downgrade(_config(connection), revision)
