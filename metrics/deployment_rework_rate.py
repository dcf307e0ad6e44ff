"""Deployment rework rate: the share of production deployments that were unplanned fixes.

Definition (DESIGN §4): over the successful production deployments finished in the window
(all kinds): `deployments` = their count, `rework` = the remediations among them
(rollbacks and hotfixes, explicit or inferred), `rate` = rework / deployments. Unit: a
fraction (0 to 1). Edge cases: no deployments gives a null rate. DORA publishes no tiers
for it; it is shown against the 2025 industry mean (`benchmarks.REWORK_RATE_2025_MEAN`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from metrics.attribution import REMEDIATIONS
from metrics.scope import Key, Scope
from models import DeploymentAttribution


@dataclass(frozen=True)
class DeploymentReworkRate:
    """Deployments, the remediations among them and their ratio."""

    deployments: int
    rework: int
    rate: float | None


@dataclass(frozen=True)
class Tally:
    """Counts behind a rework rate; `+` pools two tallies."""

    deployments: int = 0
    rework: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.deployments + other.deployments, self.rework + other.rework)


def compute(tally: Tally) -> DeploymentReworkRate:
    """Rework rate of the counted deployments."""
    rate = tally.rework / tally.deployments if tally.deployments else None
    return DeploymentReworkRate(tally.deployments, tally.rework, rate)


def load(session: Session, scope: Scope) -> dict[Key, Tally]:
    """Count deployments and remediations in scope per (bucket, service)."""
    table = DeploymentAttribution
    groups = scope.groups(table.service, table.finished_at)
    remediation = case((table.label.in_(sorted(REMEDIATIONS)), 1), else_=0)
    statement = (
        select(*groups, func.count(), func.sum(remediation))
        .select_from(table)
        .where(table.profile == scope.profile, *scope.conditions(table.service, table.finished_at))
        .group_by(*groups)
    )
    return {
        key: Tally(deployments, int(rework or 0))
        for key, (deployments, rework) in scope.tallies(session, statement).items()
    }
