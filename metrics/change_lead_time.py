"""Change lead time: how long a commit takes to reach production.

Definition (DESIGN §4): one sample per shipped commit c of each successful production
deployment d that finished in the window: `d.finished_at - c.authored_at`. The shipped
commits C(d) are those d shipped first in its stream (see `metrics.attribution`): its
explicit list, or `git log previous..d` without merge commits, less anything already
shipped. Unit: hours. Reported: `samples`, `median_hours`, `p90_hours` (linear
interpolation, as numpy). Edge cases: samples <= 0 (clock skew, rebased history) are
dropped; rollbacks, redeploys and the first deployment of a stream without an explicit
list give no samples; a listed sha with no commit record is shipped but gives no sample;
no samples gives nulls. Tier on the median (2023): elite < 1 day, high < 7 days,
medium < 30 days, else low.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from metrics.benchmarks import Benchmark, Tier
from metrics.scope import Key, Scope
from metrics.stats import spread
from models import DeploymentAttribution, DeploymentCommit


@dataclass(frozen=True)
class ChangeLeadTime:
    """Lead-time samples and their median and p90."""

    samples: int
    median_hours: float | None
    p90_hours: float | None
    tier: Tier | None


def compute(samples_us: Sequence[int], benchmark: Benchmark) -> ChangeLeadTime:
    """Change lead time of positive samples given in microseconds."""
    summary = spread([sample for sample in samples_us if sample > 0])
    return ChangeLeadTime(
        summary.samples,
        summary.median_hours,
        summary.p90_hours,
        benchmark.lead_time_tier(summary.median_hours),
    )


def load(session: Session, scope: Scope) -> dict[Key, list[int]]:
    """The positive lead-time samples (microseconds) in scope per (bucket, service)."""
    table = DeploymentAttribution
    statement = (
        select(*scope.groups(table.service, table.finished_at), DeploymentCommit.lead_time_us)
        .select_from(table)
        .join(DeploymentCommit, DeploymentCommit.deployment_id == table.deployment_id)
        .where(
            table.profile == scope.profile,
            *scope.conditions(table.service, table.finished_at),
            DeploymentCommit.lead_time_us > 0,
        )
    )
    return scope.samples(session, statement)
