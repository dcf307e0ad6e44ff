"""What data is stored: row counts per kind (the empty states and `demo --if-empty` use it)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

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

_KINDS: tuple[tuple[str, type[Base]], ...] = (
    ("services", Service),
    ("commits", Commit),
    ("pull requests", PullRequest),
    ("builds", Build),
    ("test cases", TestCase),
    ("deployments", Deployment),
    ("incidents", Incident),
    ("monitor states", MonitorState),
)


@dataclass(frozen=True)
class Inventory:
    """Stored rows of every kind of record.

    Attributes:
        rows: Row count by plural kind ("deployments", ...), in a fixed order.
    """

    rows: dict[str, int]

    @property
    def is_empty(self) -> bool:
        """True when nothing but (possibly) the service catalog is stored."""
        return all(count == 0 for kind, count in self.rows.items() if kind != "services")


def data_inventory(session: Session) -> Inventory:
    """Count every kind of record (one query per kind)."""
    return Inventory(
        {
            kind: session.scalar(select(func.count()).select_from(model)) or 0
            for kind, model in _KINDS
        }
    )
