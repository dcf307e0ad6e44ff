"""Time to restore service (the pre-2023 DORA metric): how long incidents stay open.

Definition (DESIGN §4): over production incidents opened in the window and resolved (a
`resolved_at` is set), `resolved_at - opened_at`, whether or not a deployment caused
them. Unit: hours. Reported: `samples`, `median_hours`, `p90_hours`. Edge cases: open
incidents give no sample; samples are kept as they are; an incident with no environment
is production; no samples gives nulls. No tier of its own in the output (the 2021 restore
tiers rate recovery time under `--benchmark 2021`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from metrics.scope import Key, Scope
from metrics.stats import spread
from models import IncidentAttribution


@dataclass(frozen=True)
class TimeToRestore:
    """Restore samples and their median and p90."""

    samples: int
    median_hours: float | None
    p90_hours: float | None


def compute(samples_us: Sequence[int]) -> TimeToRestore:
    """Time to restore from samples in microseconds."""
    summary = spread(samples_us)
    return TimeToRestore(summary.samples, summary.median_hours, summary.p90_hours)


def load(session: Session, scope: Scope) -> dict[Key, list[int]]:
    """Restore samples (microseconds) in scope per (bucket, service)."""
    table = IncidentAttribution
    columns = [*scope.groups(table.service, table.opened_at), table.restore_us]
    statement = (
        select(*columns)
        .select_from(table)
        .where(
            table.profile == scope.profile,
            *scope.conditions(table.service, table.opened_at),
            table.restore_us.is_not(None),
        )
    )
    return scope.samples(session, statement)
