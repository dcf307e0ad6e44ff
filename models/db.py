"""Engines, sessions and the one upsert every writer uses.

SQLite is tuned for a web app reading while a collector or an import writes: WAL journal
(readers never wait for the writer), a busy timeout instead of "database is locked"
errors, and foreign keys enforced as PostgreSQL does.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping
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
    select,
)
from sqlalchemy import column as sql_column
from sqlalchemy import table as sql_table
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
    columns = list(distinct[0])
    values = _bound_values(connection.dialect, table, columns, distinct)
    if connection.dialect.name == "postgresql":
        _upsert_postgresql(connection, model, table, columns, values)
    else:
        insert = _on_conflict(sqlite.insert(table), model, table, columns)
        compiled = insert.compile(dialect=connection.dialect, column_keys=columns)
        # Positional parameters follow the compiled statement's order, not the rows'.
        order = [columns.index(name) for name in compiled.positiontup or columns]
        connection.exec_driver_sql(
            compiled.string, [tuple(row[index] for index in order) for row in values]
        )
    return len(distinct)


def _on_conflict(
    insert: sqlite.Insert | postgresql.Insert, model: type[Base], table: Table, columns: list[str]
) -> Insert:
    """Add the natural-key conflict clause with last-writer-wins to an INSERT."""
    key = model.natural_key
    updated = {name: insert.excluded[name] for name in columns if name not in key}
    if not updated:
        return insert.on_conflict_do_nothing(index_elements=key)
    newer: ColumnElement[bool] | None = None
    if model.update_time:
        stored, incoming = table.c[model.update_time], insert.excluded[model.update_time]
        newer = or_(incoming.is_(None), stored.is_(None), incoming >= stored)
    return insert.on_conflict_do_update(index_elements=key, set_=updated, where=newer)


def _bound_values(
    dialect: Dialect, table: Table, columns: list[str], rows: list[Mapping[str, Any]]
) -> list[tuple[Any, ...]]:
    """Convert rows to DBAPI values with the columns' own bind processors (UTC, JSON...).

    This is what `session.execute(insert, rows)` does per row, without the layers around it
    that cost more than the database itself at import volumes.
    """
    values_of = itemgetter(*columns) if len(columns) > 1 else lambda row: (row[columns[0]],)
    conversions = [
        (position, process)
        for position, name in enumerate(columns)
        # dialect_impl resolves variants (JSON -> JSONB on PostgreSQL) and decorators.
        if (process := table.c[name].type.dialect_impl(dialect).bind_processor(dialect))
    ]
    converted = []
    for row in rows:
        values = list(values_of(row))
        for position, process in conversions:
            values[position] = process(values[position])
        converted.append(tuple(values))
    return converted


def _upsert_postgresql(
    connection: Connection,
    model: type[Base],
    table: Table,
    columns: list[str],
    values: list[tuple[Any, ...]],
) -> None:
    """COPY the rows into a temporary table, then INSERT ... SELECT ... ON CONFLICT once.

    COPY is PostgreSQL's bulk path: several times faster than row-by-row statements, and
    the single INSERT applies the same conflict rules as on SQLite.
    """
    quote = connection.dialect.identifier_preparer.quote
    column_list = ", ".join(quote(name) for name in columns)
    # One staging table per target and column set, kept for the whole transaction and
    # emptied after each batch: creating one per batch would pile up a lock per table
    # until commit and exhaust max_locks_per_transaction on a long import.
    stage = f"_stage_{table.name}_{zlib.crc32(column_list.encode()):08x}"
    connection.exec_driver_sql(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} ON COMMIT DROP AS "  # noqa: S608 - our own identifiers
        f"SELECT {column_list} FROM {quote(table.name)} WITH NO DATA"
    )
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY {stage} ({column_list}) FROM STDIN") as copy:
        for row in values:
            copy.write_row(row)
    staged = sql_table(stage, *(sql_column(name) for name in columns))
    insert = postgresql.insert(table).from_select(columns, select(*staged.c))
    connection.execute(_on_conflict(insert, model, table, columns))
    connection.exec_driver_sql(f"TRUNCATE {stage}")
