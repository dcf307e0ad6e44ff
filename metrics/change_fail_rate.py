"""Change fail rate: the share of production deployments that failed.

Definition (DESIGN §4): over the successful production deployments finished in the
window, rollbacks excluded: `deployments` = their count, `failed` = those that are failed
deployments, `rate` = failed / deployments. A deployment is failed when a rollback
returns to the version before it, a hotfix fixes it (named in `fixes`, or the latest
non-remediation deployment before the hotfix), or an incident is linked to it (see
`metrics.attribution`). Failure looks at all the data, also after `until`. Unit: a
fraction (0 to 1). Edge cases: no deployments gives a null rate and tier; several
reasons or incidents count the deployment once. Tier (2023): elite <= 5 %, high <= 10 %,
medium <= 15 %, else low.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from metrics.benchmarks import Benchmark, Tier
from metrics.scope import Key, Scope
from models import DeploymentAttribution


@dataclass(frozen=True)
class ChangeFailRate:
    """Deployments (rollbacks excluded), the failed ones and their ratio."""

    deployments: int
    failed: int
    rate: float | None
    tier: Tier | None


@dataclass(frozen=True)
class Tally:
    """Counts behind a change fail rate; `+` pools two tallies."""

    deployments: int = 0
    failed: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.deployments + other.deployments, self.failed + other.failed)


def compute(tally: Tally, benchmark: Benchmark) -> ChangeFailRate:
    """Change fail rate of the counted deployments."""
    rate = tally.failed / tally.deployments if tally.deployments else None
    return ChangeFailRate(
        tally.deployments,
        tally.failed,
        rate,
        benchmark.fail_rate_tier(tally.failed, tally.deployments),
    )


def load(session: Session, scope: Scope) -> dict[Key, Tally]:
    """Count non-rollback and failed deployments in scope per (bucket, service)."""
    table = DeploymentAttribution
    groups = scope.groups(table.service, table.finished_at)
    statement = (
        select(*groups, func.count(), func.sum(case((table.failed, 1), else_=0)))
        .select_from(table)
        .where(
            table.profile == scope.profile,
            *scope.conditions(table.service, table.finished_at),
            table.label != "rollback",
        )
        .group_by(*groups)
    )
    return {
        key: Tally(deployments, int(failed or 0))
        for key, (deployments, failed) in scope.tallies(session, statement).items()
    }
