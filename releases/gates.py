"""Gate evaluation: which policy applies to a promotion, and what its checks say now.

The verdict is the worst blocking check (fail > needs_human > pass); advisory checks are
shown but never decide. A check that errors is needs_human, so a broken data source can
hold a promotion for a human but never wave it through. No policy for a target means no
checks, and the evaluation says so.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from releases import checks
from releases.checks import CheckResult, Status, Target
from releases.environments import running, sha_of
from settings import GatePolicy, ServiceConfig, Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GateEvaluation:
    """A gate's verdict on one candidate, with every check's evidence.

    Attributes:
        service: The service.
        environment: The target environment.
        version: The candidate version.
        sha: The candidate's commit, when known.
        from_environment: The previous environment in promotion order.
        verdict: The worst blocking check's status.
        checks: Every check that ran, blocking and advisory.
        policy: Whether a gate policy matched (`False`: no checks were configured).
        evaluated_at: When the checks read the data (UTC).
    """

    service: str
    environment: str
    version: str
    sha: str | None
    from_environment: str | None
    verdict: Status
    checks: list[CheckResult]
    policy: bool
    evaluated_at: datetime

    @property
    def passed(self) -> bool:
        """Whether the gate lets the promotion through."""
        return self.verdict is Status.passed

    def blocking_problems(self, *, include_approvals: bool = True) -> list[CheckResult]:
        """The blocking checks that did not pass."""
        return [
            check
            for check in self.checks
            if check.blocking
            and check.status is not Status.passed
            and (include_approvals or check.name != "approvals")
        ]

    def to_dict(self) -> dict[str, Any]:
        """The evaluation as JSON-ready data (the `gate --json` output and stored evidence)."""
        data = asdict(self)
        data["verdict"] = str(self.verdict)
        data["evaluated_at"] = self.evaluated_at.isoformat()
        for check in data["checks"]:
            check["status"] = str(check["status"])
            check["mode"] = "blocking" if check.pop("blocking") else "advisory"
        return data


def policy_for(settings: Settings, service: str, environment: str) -> GatePolicy | None:
    """The gate policy of (service, environment): the service's own, else the `*` one."""
    matching = [
        policy for policy in settings.gates if policy.environment.lower() == environment.lower()
    ]
    for wanted in (service, "*"):
        for policy in matching:
            if policy.service == wanted:
                return policy
    return None


def service_config(settings: Settings, service: str) -> ServiceConfig:
    """The catalog entry of `service`, or the defaults for a service not in the catalog."""
    return settings.services.get(service) or ServiceConfig()


def previous_environment(settings: Settings, service: str, environment: str) -> str | None:
    """The environment before `environment` in the service's promotion order, if any."""
    order = [name.lower() for name in service_config(settings, service).environments]
    if environment.lower() not in order:
        return None
    index = order.index(environment.lower())
    return service_config(settings, service).environments[index - 1] if index > 0 else None


def production_of(settings: Settings, service: str) -> list[str]:
    """The service's production environment names, lower case."""
    configured = service_config(settings, service).production
    return [name.lower() for name in configured] if configured else settings.production_environments


def target_for(
    session: Session,
    settings: Settings,
    service: str,
    environment: str,
    version: str,
    *,
    sha: str | None = None,
    requester: str | None = None,
    approvers: list[str] | None = None,
    rejecters: list[str] | None = None,
) -> Target:
    """Assemble what a gate needs to know about a candidate from the stored data."""
    return Target(
        service=service,
        environment=environment,
        version=version,
        sha=sha or sha_of(session, service, version),
        from_environment=previous_environment(settings, service, environment),
        running=running(session, service, environment),
        repos=service_config(settings, service).repos,
        production=production_of(settings, service),
        requester=requester,
        approvers=approvers or [],
        rejecters=rejecters or [],
    )


def _safely(name: str, blocking: bool, run: Any, session: Session) -> CheckResult:
    # A savepoint per check: on PostgreSQL a failed statement would otherwise poison the
    # transaction and every later check with it.
    try:
        with session.begin_nested():
            result: CheckResult = run()
            return result
    # Broad on purpose: a gate must fail safe, whatever broke.
    except Exception as exc:
        logger.exception("gate check %s failed", name)
        return CheckResult(
            name,
            Status.needs_human,
            blocking,
            f"check could not run: {type(exc).__name__}",
            {"error": str(exc).splitlines()[0] if str(exc) else type(exc).__name__},
        )


def evaluate(session: Session, settings: Settings, target: Target, now: datetime) -> GateEvaluation:
    """Run the policy's checks for `target` at `now` and combine them into a verdict.

    Args:
        session: Reads builds, tests, incidents, monitor states and deployments.
        settings: Where the gate policy comes from.
        target: The candidate (see `target_for`).
        now: The evaluation time; freezes, soak and staleness are judged at it.

    Returns:
        The verdict and every check's evidence.
    """
    policy = policy_for(settings, target.service, target.environment)
    results: list[CheckResult] = []
    if policy is not None:
        configured = policy.checks
        runners: list[tuple[str, Any, Any]] = [
            ("builds_green", configured.builds_green, checks.builds_green),
            ("test_pass_rate", configured.test_pass_rate, checks.test_pass_rate),
            ("no_new_failing_tests", configured.no_new_failing_tests, checks.no_new_failing_tests),
            ("open_incidents", configured.open_incidents, checks.open_incidents),
            ("monitors", configured.monitors, checks.monitors),
            ("error_rate", configured.error_rate, checks.error_rate),
            ("soak", configured.soak, checks.soak),
        ]
        for name, config, check in runners:
            if config is not None:
                results.append(
                    _safely(
                        name,
                        config.mode == "blocking",
                        lambda check=check, config=config: check(session, target, config, now),
                        session,
                    )
                )
        if policy.freezes:
            results.append(
                _safely("freeze", True, lambda: checks.freeze(policy.freezes, now), session)
            )
        if policy.approvals:
            results.append(checks.approvals(target, policy.approvals))
    blocking = [result.status for result in results if result.blocking]
    verdict = max(blocking, key=lambda status: status.badness, default=Status.passed)
    return GateEvaluation(
        service=target.service,
        environment=target.environment,
        version=target.version,
        sha=target.sha,
        from_environment=target.from_environment,
        verdict=verdict,
        checks=results,
        policy=policy is not None,
        evaluated_at=now,
    )
