"""Deployment frequency: how often production receives a deployment.

Definition (DESIGN §4): the successful production deployments that finished in the window
`[since, until)`, of every kind (rollbacks, redeploys and hotfixes included);
`per_day` = that count / the window's length in days, `per_week` = `per_day` * 7.
Unit: deployments per day and per week. Edge cases: it is a rate over time, so no
deployments gives 0.0 per day and tier `low` (never null); failed, cancelled and running
deployments and non-production environments do not count. Tier (2023): elite >= 1/day,
high >= 1/week, medium >= 1/30 days, else low.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from metrics.benchmarks import Benchmark, Tier
from metrics.scope import Key, Scope
from models import DeploymentAttribution


@dataclass(frozen=True)
class DeploymentFrequency:
    """Deployments in the window and their rate."""

    deployments: int
    per_day: float
    per_week: float
    tier: Tier


def compute(deployments: int, window: timedelta, benchmark: Benchmark) -> DeploymentFrequency:
    """Deployment frequency of `deployments` over a window of length `window`."""
    per_day = deployments / (window / timedelta(days=1))
    return DeploymentFrequency(
        deployments, per_day, per_day * 7, benchmark.frequency_tier(deployments, window)
    )


def load(session: Session, scope: Scope) -> Counter[Key]:
    """Count the deployments in scope per (bucket, service)."""
    table = DeploymentAttribution
    groups = scope.groups(table.service, table.finished_at)
    statement = (
        select(*groups, func.count())
        .select_from(table)
        .where(table.profile == scope.profile, *scope.conditions(table.service, table.finished_at))
        .group_by(*groups)
    )
    return Counter({key: n for key, (n,) in scope.tallies(session, statement).items()})
