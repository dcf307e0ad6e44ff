"""The declarative base and the column types every model shares.

`UTCDateTime` is why timestamps are safe on both databases: PostgreSQL stores
`timestamptz`, SQLite stores naive text, and either way Python only ever sees aware UTC
datetimes. A naive datetime is refused at bind time rather than guessed at.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, Dialect, MetaData
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so Alembic migrations can drop and alter them by name.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
}

# JSON everywhere, JSONB on PostgreSQL so lists and evidence can be indexed later.
JSONValue = JSON().with_variant(JSONB(), "postgresql")


def _naive_message(value: datetime) -> str:
    return f"naive datetime {value!r}: Flightdeck stores only timezone-aware times"


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to UTC; SQLite gets it without tzinfo, which it cannot store."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(_naive_message(value))
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Callable[[datetime | None], Any] | None:
        """On SQLite, convert to UTC and to DATETIME's stored text in one step.

        The same text SQLAlchemy's SQLite DATETIME writes (`YYYY-MM-DD HH:MM:SS.ffffff`),
        without its two layers of per-value calls, which cost more than the insert itself
        at import volumes. Other backends take the usual path.
        """
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def to_text(value: datetime | None) -> str | None:
            if value is None:
                return None
            if value.tzinfo is None:
                raise ValueError(_naive_message(value))
            return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")

        return to_text

    def result_processor(
        self, dialect: Dialect, coltype: object
    ) -> Callable[[Any], datetime | None] | None:
        """On SQLite, parse the stored text with `datetime.fromisoformat` (C, not a regex).

        Reading is as hot as writing: the metrics engine reads every commit's time.
        """
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)

        def from_text(value: str | None) -> datetime | None:
            if value is None:
                return None
            parsed = datetime.fromisoformat(value)
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)

        return from_text

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return an aware UTC datetime whatever the backend gave back."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Base of all tables.

    Attributes:
        natural_key: Columns that identify a row in its source; the upsert conflict target.
        update_time: Column holding the source's own update time, if the source has one;
            the upsert's last-writer-wins compares it.
    """

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}

    natural_key: ClassVar[tuple[str, ...]] = ()
    update_time: ClassVar[str | None] = None
