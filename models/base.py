"""The declarative base and the column types every model shares.

`UTCDateTime` is why timestamps are safe on both databases: PostgreSQL stores
`timestamptz`, SQLite stores naive text, and either way Python only ever sees aware UTC
datetimes. A naive datetime is refused at bind time rather than guessed at.
"""

from __future__ import annotations

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


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to UTC; SQLite gets it without tzinfo, which it cannot store."""
        if value is None:
            return None
        if value.tzinfo is None:
            msg = f"naive datetime {value!r}: Flightdeck stores only timezone-aware times"
            raise ValueError(msg)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

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
