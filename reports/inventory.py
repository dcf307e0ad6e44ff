"""What data is stored: row counts per kind and the time span each kind covers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from models import (
    Base,
    Build,
    Commit,
    Deployment,
    Incident,
    MonitorState,
    PullRequest,
    Service,
    TestCase,
)

# Each kind with the timestamp that places its records in time (None: untimed).
_KINDS: tuple[tuple[str, type[Base], InstrumentedAttribute[Any] | None], ...] = (
    ("services", Service, None),
    ("commits", Commit, Commit.authored_at),
    ("pull requests", PullRequest, PullRequest.opened_at),
    ("builds", Build, Build.started_at),
    ("test cases", TestCase, None),
    ("deployments", Deployment, Deployment.finished_at),
    ("incidents", Incident, Incident.opened_at),
    ("monitor states", MonitorState, MonitorState.observed_at),
)


@dataclass(frozen=True)
class KindInventory:
    """How much of one kind of record is stored.

    Attributes:
        kind: Plural noun, e.g. "deployments".
        rows: Stored rows.
        first: Earliest time among them (None when untimed or empty).
        last: Latest time among them.
    """

    kind: str
    rows: int
    first: datetime | None
    last: datetime | None


@dataclass(frozen=True)
class Inventory:
    """Counts and spans of every kind of record.

    Attributes:
        kinds: One entry per kind, in a fixed order.
    """

    kinds: tuple[KindInventory, ...]

    @property
    def is_empty(self) -> bool:
        """True when nothing but (possibly) the service catalog is stored."""
        return all(kind.rows == 0 for kind in self.kinds if kind.kind != "services")

    @property
    def span(self) -> tuple[datetime, datetime] | None:
        """The earliest and latest time over all kinds, or None when nothing is timed."""
        firsts = [kind.first for kind in self.kinds if kind.first is not None]
        lasts = [kind.last for kind in self.kinds if kind.last is not None]
        return (min(firsts), max(lasts)) if firsts and lasts else None


def data_inventory(session: Session) -> Inventory:
    """Count every kind of record and find the time span it covers (one query per kind).

    `min`/`max` keep the column's type, so the span comes back as aware UTC datetimes.
    """
    kinds = []
    for kind, model, timestamp in _KINDS:
        if timestamp is None:
            rows = session.scalar(select(func.count()).select_from(model)) or 0
            kinds.append(KindInventory(kind, rows, None, None))
            continue
        rows, first, last = session.execute(
            select(func.count(), func.min(timestamp), func.max(timestamp)).select_from(model)
        ).one()
        kinds.append(KindInventory(kind, rows, first, last))
    return Inventory(tuple(kinds))
