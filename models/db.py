"""Engines, sessions and the one upsert every writer uses.

SQLite is tuned for a web app reading while a collector or an import writes: WAL journal
(readers never wait for the writer), a busy timeout instead of "database is locked"
errors, and foreign keys enforced as PostgreSQL does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from operator import itemgetter
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Dialect,
    Engine,
    Table,
    create_engine,
    event,
    make_url,
    or_,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql.dml import Insert

from models.base import Base

SQLITE_BUSY_TIMEOUT_MS = 30_000


def _tune_sqlite(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    # NORMAL is durable in WAL mode except for the last commits on power loss, and it is
    # several times faster than FULL for imports.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(database_url: str) -> Engine:
    """Create the engine for a database URL, creating the SQLite file's folder if needed."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url)
        event.listen(engine, "connect", _tune_sqlite)
        return engine
    return create_engine(url, pool_pre_ping=True)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Return the session factory used by the entry points (CLI, runner, actions, ui)."""
    return sessionmaker(engine, expire_on_commit=False)


def upsert(session: Session, model: type[Base], rows: Iterable[Mapping[str, Any]]) -> int:
    """Insert rows, or update the row already stored under the same natural key.

    Last writer wins, except that a row carrying the source's update time never replaces a
    stored row the source dated later: a late, stale delivery cannot undo a newer one.
    Rows repeated within `rows` collapse to the last one. Every row must have the same keys.

    Args:
        session: The session whose transaction the rows join; the caller commits.
        model: The table's model; its `natural_key` is the conflict target.
        rows: Column values by name, without `id`.

    Returns:
        The number of distinct rows written or offered (conflicting stale rows included).
    """
    key = model.natural_key
    distinct = list({tuple(row[column] for column in key): row for row in rows}.values())
    if not distinct:
        return 0
    table = cast(Table, model.__table__)
    connection = session.connection()
    dialect = connection.dialect
    insert = postgresql.insert(table) if dialect.name == "postgresql" else sqlite.insert(table)
    updated = {name: insert.excluded[name] for name in distinct[0] if name not in key}
    if not updated:
        statement = insert.on_conflict_do_nothing(index_elements=key)
    else:
        newer: ColumnElement[bool] | None = None
        if model.update_time:
            stored, incoming = table.c[model.update_time], insert.excluded[model.update_time]
            newer = or_(incoming.is_(None), stored.is_(None), incoming >= stored)
        statement = insert.on_conflict_do_update(index_elements=key, set_=updated, where=newer)
    _execute_many(connection, statement, table, distinct)
    return len(distinct)


def _bind_processor(table: Table, column: str, dialect: Dialect) -> Callable[[Any], Any] | None:
    # dialect_impl resolves variants (JSON -> JSONB on PostgreSQL) and decorators.
    return table.c[column].type.dialect_impl(dialect).bind_processor(dialect)


def _execute_many(
    connection: Connection, statement: Insert, table: Table, rows: list[Mapping[str, Any]]
) -> None:
    """Execute one compiled statement for many rows straight through the DBAPI's executemany.

    `session.execute(statement, rows)` would do the same, but re-derives every row's
    parameters through several layers; at import volumes that costs more than the database
    itself. The column types' own bind processors still convert every value (UTC
    timestamps, JSON), so what is stored is identical.
    """
    columns = list(rows[0])
    compiled = statement.compile(
        dialect=connection.dialect, column_keys=columns, for_executemany=True
    )
    order = list(compiled.positiontup or columns)
    values_of = itemgetter(*order) if len(order) > 1 else lambda row: (row[order[0]],)
    conversions = [
        (position, process)
        for position, name in enumerate(order)
        if (process := _bind_processor(table, name, connection.dialect)) is not None
    ]
    converted: list[Any] = []
    for row in rows:
        values = list(values_of(row))
        for position, process in conversions:
            values[position] = process(values[position])
        converted.append(tuple(values))
    parameters = (
        converted
        if compiled.positiontup is not None
        else [dict(zip(order, values, strict=True)) for values in converted]
    )
    connection.exec_driver_sql(compiled.string, parameters)
