"""Engines, sessions, the one upsert every writer uses, and the vacuum after a rewrite.

SQLite is tuned for a web app reading while a collector or an import writes: WAL journal
(readers never wait for the writer), a busy timeout instead of "database is locked"
errors, and foreign keys enforced as PostgreSQL does.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Iterable, Mapping
from itertools import chain
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
_SQLITE = sqlite.dialect()


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


def vacuum(sessions: sessionmaker[Session], models: Iterable[type[Base]]) -> None:
    """After rewriting whole tables on PostgreSQL, reclaim their dead rows and re-plan them.

    A rewrite leaves every old row dead until a vacuum: index-only scans then visit the heap
    for each row, and the planner, working from the old statistics, prefers scanning whole
    tables (the org-wide lead-time read went from 34 ms to 260 ms after a `recompute`).
    Autovacuum gets there eventually, when it is on at all; this does it at once. VACUUM
    cannot run inside a transaction, so it runs on a connection in autocommit mode. SQLite
    keeps no dead rows and no statistics unless asked: nothing to do.
    """
    with sessions() as session:
        if session.get_bind().dialect.name != "postgresql":
            return
        names = ", ".join(model.__tablename__ for model in models)
        autocommit = session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        autocommit.exec_driver_sql(f"VACUUM (ANALYZE) {names}")


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
    remaining = iter(rows)
    first = next(remaining, None)
    if first is None:
        return 0
    connection = session.connection()
    dialect = connection.dialect
    columns = tuple(first)
    if dialect.name == "postgresql":
        # COPY stages the rows in their own column order.
        values = _distinct_values(dialect, model, columns, chain((first,), remaining))
        _upsert_postgresql(connection, model, columns, values)
    else:
        statement, order = _sqlite_statement(model, columns)
        values = _distinct_values(dialect, model, order, chain((first,), remaining))
        connection.exec_driver_sql(statement, values)
    return len(values)


@functools.cache
def _sqlite_statement(model: type[Base], columns: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    """The SQLite upsert statement for a table and column set, and its parameters' order.

    Compiled once per table and column set: compiling costs more than a batch of rows.
    """
    table = cast(Table, model.__table__)
    insert = _on_conflict(sqlite.insert(table), model, table, list(columns))
    compiled = insert.compile(dialect=_SQLITE, column_keys=list(columns))
    return compiled.string, tuple(compiled.positiontup or columns)


def _distinct_values(
    dialect: Dialect, model: type[Base], order: tuple[str, ...], rows: Iterable[Mapping[str, Any]]
) -> list[tuple[Any, ...]]:
    """Convert rows to DBAPI parameter tuples in `order`, the last row of each key kept.

    The columns' own bind processors do the conversion (UTC, JSON...): this is what
    `session.execute(insert, rows)` does per row, without the layers around it that cost
    more than the database itself at import volumes.
    """
    table = cast(Table, model.__table__)
    values_of = itemgetter(*order) if len(order) > 1 else lambda row: (row[order[0]],)
    key_of = itemgetter(*(order.index(name) for name in model.natural_key))
    conversions = [
        (position, process)
        for position, name in enumerate(order)
        # dialect_impl resolves variants (JSON -> JSONB on PostgreSQL) and decorators.
        if (process := table.c[name].type.dialect_impl(dialect).bind_processor(dialect))
    ]
    distinct: dict[Any, tuple[Any, ...]] = {}
    for row in rows:
        values = values_of(row)
        if conversions:
            converted = list(values)
            for position, process in conversions:
                converted[position] = process(converted[position])
            values = tuple(converted)
        distinct[key_of(values)] = values
    return list(distinct.values())


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


def _upsert_postgresql(
    connection: Connection,
    model: type[Base],
    columns: tuple[str, ...],
    values: list[tuple[Any, ...]],
) -> None:
    """COPY the rows into a temporary table, then INSERT ... SELECT ... ON CONFLICT once.

    COPY is PostgreSQL's bulk path: several times faster than row-by-row statements, and
    the single INSERT applies the same conflict rules as on SQLite.
    """
    table = cast(Table, model.__table__)
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
    insert = postgresql.insert(table).from_select(list(columns), select(*staged.c))
    connection.execute(_on_conflict(insert, model, table, list(columns)))
    connection.exec_driver_sql(f"TRUNCATE {stage}")
