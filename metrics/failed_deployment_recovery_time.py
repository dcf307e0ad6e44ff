"""Failed deployment recovery time: how long service stays degraded after a bad deployment.

Definition (DESIGN §4): one sample per failed deployment d (see `change_fail_rate`) that
finished in the window and has a restoration time: `restored - d.finished_at`, where
`restored` is the earliest of the finishes of the rollbacks and hotfixes that failed it
and, when every incident linked to it is resolved, the latest resolution among them.
Unit: hours. Reported: `samples`, `median_hours`, `p90_hours`, and `unrecovered` (failed
deployments with no restoration yet). Edge cases: restoration may come after `until`;
samples are kept as they are (none dropped); no samples gives nulls. Tier on the median
(2023): elite < 1 hour, high < 1 day, medium < 7 days, else low.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from metrics.benchmarks import Benchmark, Tier
from metrics.scope import Key, Scope
from metrics.stats import spread
from models import DeploymentAttribution


@dataclass(frozen=True)
class FailedDeploymentRecoveryTime:
    """Recovery samples, their median and p90, and the failures not yet recovered."""

    samples: int
    median_hours: float | None
    p90_hours: float | None
    unrecovered: int
    tier: Tier | None


@dataclass
class Recoveries:
    """Recovery samples (microseconds) and the count of unrecovered failures."""

    samples_us: list[int] = field(default_factory=list)
    unrecovered: int = 0


def compute(
    samples_us: Sequence[int], unrecovered: int, benchmark: Benchmark
) -> FailedDeploymentRecoveryTime:
    """Recovery time of failed deployments, from their samples in microseconds."""
    summary = spread(samples_us)
    return FailedDeploymentRecoveryTime(
        summary.samples,
        summary.median_hours,
        summary.p90_hours,
        unrecovered,
        benchmark.recovery_tier(summary.median_hours),
    )


def load(session: Session, scope: Scope) -> dict[Key, Recoveries]:
    """Recovery samples and unrecovered counts in scope per (bucket, service)."""
    table = DeploymentAttribution
    columns = [*scope.groups(table.service, table.finished_at), table.recovery_us]
    statement = (
        select(*columns)
        .select_from(table)
        .where(
            table.profile == scope.profile,
            *scope.conditions(table.service, table.finished_at),
            table.failed,
        )
    )
    found: dict[Key, Recoveries] = {}
    for key, values in scope.values(session, statement).items():
        samples = [value for value in values if value is not None]
        found[key] = Recoveries(samples, len(values) - len(samples))
    return found
