"""What data is stored: which kinds have rows (the empty states and `demo --if-empty` use it)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import exists, select
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
    """Which kinds of record are stored.

    Attributes:
        present: The plural kinds ("deployments", ...) with at least one row.
    """

    present: frozenset[str]

    @property
    def is_empty(self) -> bool:
        """True when nothing but (possibly) the service catalog is stored."""
        return not self.present - {"services"}


def data_inventory(session: Session) -> Inventory:
    """Check every kind of record for a row (one EXISTS query per kind).

    EXISTS stops at the first row; counting read all 10M test cases on every page view
    (a second on PostgreSQL at the large demo's size).
    """
    return Inventory(
        frozenset(
            kind for kind, model in _KINDS if session.scalar(select(exists().select_from(model)))
        )
    )
