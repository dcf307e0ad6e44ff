"""Alembic environment: migrates the database named by the settings (or by the caller).

`models.migrate` passes an open connection in `config.attributes["connection"]`, so tests
and `init-db` migrate exactly the database they hold; the `alembic` command line falls back
to `FLIGHTDECK_DATABASE_URL`.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from models import Base
from models.db import make_engine
from settings import load_settings


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    with make_engine(load_settings().database_url).connect() as own_connection:
        _run(own_connection)
