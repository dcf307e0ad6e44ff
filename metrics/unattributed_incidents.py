"""Unattributed incidents: production incidents no deployment is linked to.

Definition (DESIGN §4): production incidents opened in the window for which no link rule
found a deployment (see `metrics.attribution`). They are excluded from change fail rate
and recovery time, and counted here so that what the metrics leave out stays visible.
Unit: a count (0 when none; never null).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from metrics.scope import Key, Scope
from models import IncidentAttribution


def compute(counts: Iterable[int]) -> int:
    """Pool per-service counts."""
    return sum(counts)


def load(session: Session, scope: Scope) -> Counter[Key]:
    """Count unattributed incidents in scope per (bucket, service)."""
    table = IncidentAttribution
    groups = scope.groups(table.service, table.opened_at)
    statement = (
        select(*groups, func.count())
        .select_from(table)
        .where(
            table.profile == scope.profile,
            *scope.conditions(table.service, table.opened_at),
            table.deployment_id.is_(None),
        )
        .group_by(*groups)
    )
    return Counter({key: n for key, (n,) in scope.tallies(session, statement).items()})
