"""The gate's checks (DESIGN §7), each a function from stored data to a verdict with evidence.

Every check answers pass, needs_human or fail and says why. The rule all of them follow:
missing or stale data is needs_human, never pass, because a gate that cannot see is not a
gate that saw nothing wrong. Checks only read the caller's session.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from models import Build, Incident, MonitorState, TestCase
from releases.environments import Running, first_success
from releases.freeze import active_freezes
from settings import (
    ErrorRateCheck,
    FreezeWindow,
    GateCheck,
    MonitorsCheck,
    OpenIncidentsCheck,
    SoakCheck,
    TestPassRateCheck,
)

# Evidence lists are cut here so one evaluation stays small enough to store and show.
EVIDENCE_ITEMS = 20


class Status(StrEnum):
    """A check's answer, ordered from best to worst."""

    passed = "pass"
    needs_human = "needs_human"
    failed = "fail"

    @property
    def badness(self) -> int:
        """0 for pass, 1 for needs_human, 2 for fail."""
        return list(Status).index(self)


@dataclass(frozen=True)
class Target:
    """What a gate is asked about: a version of a service going into an environment.

    Attributes:
        service: The service.
        environment: The environment it would be promoted into.
        version: The candidate version.
        sha: The candidate's commit, when known.
        from_environment: The environment before `environment` in promotion order.
        running: What runs in `environment` now.
        repos: The service's repositories (builds are matched on them as well).
        production: The service's production environment names, lower case.
        requester: Who asked for the promotion (never counts as an approver).
        approvers: Distinct users who approved the request.
        rejecters: Users who rejected it.
    """

    service: str
    environment: str
    version: str
    sha: str | None
    from_environment: str | None
    running: Running | None
    repos: list[str] = field(default_factory=list)
    production: list[str] = field(default_factory=list)
    requester: str | None = None
    approvers: list[str] = field(default_factory=list)
    rejecters: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict.

    Attributes:
        name: The check (the config key, or `freeze` / `approvals`).
        status: pass, needs_human or fail.
        blocking: Whether the verdict counts towards the gate (advisory checks only warn).
        summary: One line saying why.
        evidence: The data the verdict rests on (JSON-ready).
    """

    name: str
    status: Status
    blocking: bool
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _result(
    name: str, config: GateCheck, status: Status, summary: str, **evidence: Any
) -> CheckResult:
    return CheckResult(name, status, config.mode == "blocking", summary, evidence)


def _builds(session: Session, target: Target) -> list[Build]:
    if target.sha is None:
        return []
    matches_service = Build.service == target.service
    if target.repos:
        matches_service = or_(matches_service, Build.repo.in_(target.repos))
    statement = (
        select(Build)
        .where(Build.sha == target.sha, matches_service)
        .order_by(Build.started_at.desc().nulls_last(), Build.id.desc())
    )
    return list(session.scalars(statement))


def _latest_per_pipeline(builds: Iterable[Build]) -> list[Build]:
    latest: dict[str | None, Build] = {}
    for build in builds:  # newest first, so the first seen per pipeline is its latest run
        latest.setdefault(build.pipeline, build)
    return list(latest.values())


def builds_green(session: Session, target: Target, config: GateCheck, now: datetime) -> CheckResult:
    """Pass when the latest build of every pipeline on the candidate's commit succeeded."""
    name = "builds_green"
    if target.sha is None:
        return _result(name, config, Status.needs_human, f"no commit known for {target.version}")
    builds = _latest_per_pipeline(_builds(session, target))
    evidence = [
        {"id": b.external_id, "pipeline": b.pipeline, "status": b.status, "url": b.url}
        for b in builds[:EVIDENCE_ITEMS]
    ]
    if not builds:
        return _result(
            name,
            config,
            Status.needs_human,
            f"no builds recorded for {target.sha[:12]}",
            sha=target.sha,
            builds=[],
        )
    statuses = {b.status for b in builds}
    if "failure" in statuses:
        failed = sum(b.status == "failure" for b in builds)
        return _result(
            name,
            config,
            Status.failed,
            f"{failed} of {len(builds)} pipelines failed",
            sha=target.sha,
            builds=evidence,
        )
    if statuses != {"success"}:
        pending = ", ".join(sorted(statuses - {"success"}))
        return _result(
            name,
            config,
            Status.needs_human,
            f"builds not all green yet ({pending})",
            sha=target.sha,
            builds=evidence,
        )
    return _result(
        name,
        config,
        Status.passed,
        f"{len(builds)} pipelines green",
        sha=target.sha,
        builds=evidence,
    )


def _final_outcomes(session: Session, builds: list[Build]) -> dict[str, str]:
    """Each test's outcome on its last attempt in the newest build that ran it."""
    if not builds:
        return {}
    order = {build.id: index for index, build in enumerate(builds)}  # 0 = newest
    rows = session.execute(
        select(
            TestCase.build_id,
            TestCase.suite,
            TestCase.classname,
            TestCase.name,
            TestCase.attempt,
            TestCase.outcome,
        ).where(TestCase.build_id.in_(list(order)))
    )
    best: dict[str, tuple[int, int, str]] = {}
    for build_id, suite, classname, test, attempt, outcome in rows:
        key = f"{suite}::{classname}::{test}"
        rank = (-order[build_id], attempt, outcome)
        if key not in best or rank[:2] > best[key][:2]:
            best[key] = rank
    return {key: outcome for key, (_, _, outcome) in best.items()}


def _failing(outcomes: dict[str, str]) -> list[str]:
    return sorted(key for key, outcome in outcomes.items() if outcome in {"failed", "error"})


def test_pass_rate(
    session: Session, target: Target, config: TestPassRateCheck, now: datetime
) -> CheckResult:
    """Pass when the share of passing tests (skips excluded) is at least `min_rate`."""
    name = "test_pass_rate"
    outcomes = _final_outcomes(session, _builds(session, target))
    ran = {key: outcome for key, outcome in outcomes.items() if outcome != "skipped"}
    if not ran:
        return _result(
            name,
            config,
            Status.needs_human,
            "no test results recorded for the candidate",
            sha=target.sha,
            min_rate=config.min_rate,
        )
    passed = sum(outcome == "passed" for outcome in ran.values())
    rate = passed / len(ran)
    failing = _failing(ran)
    status = Status.passed if rate >= config.min_rate else Status.failed
    return _result(
        name,
        config,
        status,
        f"{rate:.1%} of {len(ran)} tests passed (floor {config.min_rate:.1%})",
        sha=target.sha,
        tests=len(ran),
        passed=passed,
        rate=rate,
        min_rate=config.min_rate,
        failing=failing[:EVIDENCE_ITEMS],
    )


def no_new_failing_tests(
    session: Session, target: Target, config: GateCheck, now: datetime
) -> CheckResult:
    """Fail when a test that passed on the running version fails on the candidate."""
    name = "no_new_failing_tests"
    if target.running is None or target.running.sha is None:
        return _result(
            name,
            config,
            Status.needs_human,
            f"nothing known running in {target.environment} to compare with",
        )
    candidate = _final_outcomes(session, _builds(session, target))
    baseline_target = Target(
        target.service,
        target.environment,
        target.running.version,
        target.running.sha,
        None,
        None,
        target.repos,
    )
    baseline = _final_outcomes(session, _builds(session, baseline_target))
    if not candidate or not baseline:
        which = "candidate" if not candidate else f"running version {target.running.version}"
        return _result(name, config, Status.needs_human, f"no test results for the {which}")
    new = [key for key in _failing(candidate) if baseline.get(key) == "passed"]
    evidence = {"running_version": target.running.version, "new_failing": new[:EVIDENCE_ITEMS]}
    if new:
        return _result(name, config, Status.failed, f"{len(new)} newly failing tests", **evidence)
    return _result(name, config, Status.passed, "no newly failing tests", **evidence)


_SEVERITY_WORDS = {"critical": 1, "high": 2, "major": 2, "medium": 3, "moderate": 3, "low": 4}


def severity_rank(severity: str | None) -> int | None:
    """1 for the worst severity (`sev1`, `P1`, `critical`), larger for milder; None if unknown."""
    if severity is None:
        return None
    text = severity.strip().lower()
    if text in _SEVERITY_WORDS:
        return _SEVERITY_WORDS[text]
    digits = re.search(r"\d+", text)
    return int(digits.group()) if digits else None


def open_incidents(
    session: Session, target: Target, config: OpenIncidentsCheck, now: datetime
) -> CheckResult:
    """Fail while a production incident of the service at or above `min_severity` is open."""
    name = "open_incidents"
    threshold = severity_rank(config.min_severity)
    environment = func.lower(Incident.environment)
    rows = session.scalars(
        select(Incident)
        .where(
            Incident.service == target.service,
            Incident.resolved_at.is_(None),
            or_(Incident.environment.is_(None), environment.in_(target.production)),
        )
        .order_by(Incident.opened_at)
    ).all()
    evidence = [
        {
            "id": i.external_id,
            "severity": i.severity,
            "title": i.title,
            "opened_at": _iso(i.opened_at),
            "url": i.url,
        }
        for i in rows
    ]
    ranks = [severity_rank(i.severity) for i in rows]
    blocking = [
        e
        for e, rank in zip(evidence, ranks, strict=True)
        if rank is not None and threshold is not None and rank <= threshold
    ]
    unknown = [e for e, rank in zip(evidence, ranks, strict=True) if rank is None]
    details = {"min_severity": config.min_severity, "incidents": evidence[:EVIDENCE_ITEMS]}
    if blocking:
        worst = blocking[0]
        return _result(
            name,
            config,
            Status.failed,
            f"{len(blocking)} open incidents at {config.min_severity} or worse ({worst['id']})",
            **details,
        )
    if unknown or threshold is None:
        return _result(
            name,
            config,
            Status.needs_human,
            "an open incident or the threshold has a severity Flightdeck cannot rank",
            **details,
        )
    return _result(
        name,
        config,
        Status.passed,
        f"no open production incident at {config.min_severity} or worse",
        **details,
    )


def _latest_states(session: Session, service: str) -> list[MonitorState]:
    newest = (
        select(
            MonitorState.source,
            MonitorState.monitor,
            func.max(MonitorState.observed_at).label("observed_at"),
        )
        .where(MonitorState.service == service)
        .group_by(MonitorState.source, MonitorState.monitor)
        .subquery()
    )
    statement = (
        select(MonitorState)
        .join(
            newest,
            (MonitorState.source == newest.c.source)
            & (MonitorState.monitor == newest.c.monitor)
            & (MonitorState.observed_at == newest.c.observed_at),
        )
        .order_by(MonitorState.source, MonitorState.monitor)
    )
    return list(session.scalars(statement))


def monitors(session: Session, target: Target, config: MonitorsCheck, now: datetime) -> CheckResult:
    """Pass when every monitor of the service is OK in an observation no older than allowed."""
    name = "monitors"
    states = _latest_states(session, target.service)
    limit = timedelta(minutes=config.max_age_minutes)
    evidence = [
        {
            "source": s.source,
            "monitor": s.monitor,
            "state": s.state,
            "value": s.value,
            "observed_at": _iso(s.observed_at),
            "age_minutes": round((now - s.observed_at).total_seconds() / 60, 1),
            "url": s.url,
        }
        for s in states
    ]
    details = {"max_age_minutes": config.max_age_minutes, "monitors": evidence[:EVIDENCE_ITEMS]}
    if not states:
        return _result(
            name, config, Status.needs_human, f"no monitor states for {target.service}", **details
        )
    alerting = [s.monitor for s in states if s.state == "alert"]
    if alerting:
        return _result(
            name, config, Status.failed, f"alerting: {', '.join(alerting[:5])}", **details
        )
    stale = [s.monitor for s in states if now - s.observed_at > limit]
    unsure = [s.monitor for s in states if s.state != "ok"]
    if stale or unsure:
        parts = []
        if stale:
            parts.append(f"older than {config.max_age_minutes} min: {', '.join(stale[:5])}")
        if unsure:
            parts.append(f"not OK: {', '.join(unsure[:5])}")
        return _result(name, config, Status.needs_human, "; ".join(parts), **details)
    return _result(name, config, Status.passed, f"{len(states)} monitors OK and fresh", **details)


def error_rate(
    session: Session, target: Target, config: ErrorRateCheck, now: datetime
) -> CheckResult:
    """Pass when the highest error rate observed in the window is at most `max_rate`."""
    name = "error_rate"
    since = now - timedelta(minutes=config.window_minutes)
    rows = session.scalars(
        select(MonitorState)
        .where(
            MonitorState.service == target.service,
            or_(
                MonitorState.monitor == config.monitor,
                MonitorState.monitor.like(f"%.{config.monitor}"),
            ),
            MonitorState.observed_at >= since,
            MonitorState.observed_at <= now,
        )
        .order_by(MonitorState.observed_at.desc())
    ).all()
    values = [row.value for row in rows if row.value is not None]
    details: dict[str, Any] = {
        "max_rate": config.max_rate,
        "window_minutes": config.window_minutes,
        "observations": len(rows),
        "series": sorted({row.monitor for row in rows}),
    }
    if not values:
        return _result(
            name,
            config,
            Status.needs_human,
            f"no error-rate value in the last {config.window_minutes} min",
            **details,
        )
    highest = max(values)
    details |= {"highest": highest, "latest": values[0], "latest_at": _iso(rows[0].observed_at)}
    summary = f"highest {highest:.2%} in {config.window_minutes} min (limit {config.max_rate:.2%})"
    status = Status.passed if highest <= config.max_rate else Status.failed
    return _result(name, config, status, summary, **details)


def soak(session: Session, target: Target, config: SoakCheck, now: datetime) -> CheckResult:
    """Pass when the candidate has run at least `minutes` in the previous environment."""
    name = "soak"
    if target.from_environment is None:
        return _result(
            name, config, Status.needs_human, f"{target.environment} has no previous environment"
        )
    since = first_success(session, target.service, target.from_environment, target.version)
    details: dict[str, Any] = {
        "environment": target.from_environment,
        "minutes": config.minutes,
        "since": _iso(since),
    }
    if since is None:
        return _result(
            name,
            config,
            Status.needs_human,
            f"{target.version} never deployed to {target.from_environment}",
            **details,
        )
    ready = since + timedelta(minutes=config.minutes)
    soaked = (now - since).total_seconds() / 60
    details |= {"soaked_minutes": round(soaked, 1), "ready_at": _iso(ready)}
    if now < ready:
        return _result(
            name,
            config,
            Status.failed,
            f"soaked {soaked:.0f} of {config.minutes} min in {target.from_environment}",
            **details,
        )
    return _result(
        name,
        config,
        Status.passed,
        f"soaked {soaked:.0f} min in {target.from_environment}",
        **details,
    )


def freeze(windows: list[FreezeWindow], now: datetime) -> CheckResult:
    """Fail while one of the target's freeze windows is in force (an admin may override)."""
    active = active_freezes(windows, now)
    evidence = [
        {
            "reason": a.window.reason,
            "timezone": a.window.timezone,
            "started": _iso(a.started),
            "ends": _iso(a.ends),
        }
        for a in active
    ]
    if active:
        first = active[0]
        label = first.window.reason or "freeze window"
        return CheckResult(
            "freeze",
            Status.failed,
            True,
            f"{label} until {first.ends:%Y-%m-%d %H:%M} UTC",
            {"active": evidence},
        )
    return CheckResult("freeze", Status.passed, True, "no freeze window in force", {"active": []})


def approvals(target: Target, needed: int) -> CheckResult:
    """Pass with `needed` distinct approvers other than the requester; fail on a rejection."""
    approvers = sorted({a for a in target.approvers if a != target.requester})
    rejecters = sorted(set(target.rejecters))
    evidence: dict[str, Any] = {
        "needed": needed,
        "approvers": approvers,
        "rejected_by": rejecters,
        "requester": target.requester,
    }
    if target.rejecters:
        return CheckResult(
            "approvals",
            Status.failed,
            True,
            f"rejected by {', '.join(rejecters)}",
            evidence,
        )
    status = Status.passed if len(approvers) >= needed else Status.needs_human
    return CheckResult(
        "approvals", status, True, f"{len(approvers)} of {needed} approvals", evidence
    )
