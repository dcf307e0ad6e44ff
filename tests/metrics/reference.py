"""A deliberately naive, obviously-correct reading of DESIGN §4, for the property test.

It shares no code with `metrics`: full ancestor sets instead of a graph walk, list scans
instead of indexes, exact fractions for tiers. Slow, and only ever run on tiny histories.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

import numpy as np

from ingest.records import CommitRecord, DeploymentRecord, IncidentRecord

PRODUCTION = {"production", "prod"}
WINDOW = timedelta(hours=24)


def _key(d: DeploymentRecord) -> str | None:
    return d.version if d.version is not None else d.sha


def _order(d: DeploymentRecord) -> tuple[Any, ...]:
    started = d.started_at.timestamp() if d.started_at else float("-inf")
    assert d.finished_at is not None
    return (d.finished_at, started, d.id, d.source)


def _finish(d: DeploymentRecord) -> datetime:
    assert d.finished_at is not None
    return d.finished_at


def _hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600


def _spread(values: Sequence[float]) -> tuple[int, float | None, float | None]:
    if not values:
        return 0, None, None
    return len(values), float(np.median(values)), float(np.percentile(values, 90))


def _duration_tier(median: float | None, bounds: Sequence[float]) -> str | None:
    if median is None:
        return None
    for tier, bound in zip(("elite", "high", "medium"), bounds, strict=True):
        if median < bound:
            return tier
    return "low"


def reference(
    commits: list[CommitRecord],
    deployments: list[DeploymentRecord],
    incidents: list[IncidentRecord],
    since: datetime,
    until: datetime,
) -> dict[str, Any]:
    """The §4 JSON object (without `window`) for default settings."""
    parents = {(c.repo, c.sha): list(c.parents or []) for c in commits}
    authored = {(c.repo, c.sha): c.authored_at for c in commits}

    def ancestors(repo: str, sha: str) -> set[str]:
        seen, todo = set(), [sha]
        while todo:
            current = todo.pop()
            if current in seen or (repo, current) not in parents:
                continue
            seen.add(current)
            todo.extend(parents[repo, current])
        return seen

    ok = [d for d in deployments if d.status == "success"]
    streams: dict[tuple[str, str], list[DeploymentRecord]] = {}
    for d in ok:
        streams.setdefault((d.service, d.environment.lower()), []).append(d)
    label: dict[int, str] = {}
    shipped: dict[int, list[tuple[str, str]]] = {}
    fails: dict[int, list[datetime]] = {}  # failed deployment -> remediation finishes
    for stream in streams.values():
        stream.sort(key=_order)
        done: set[tuple[str, str]] = set()
        for i, d in enumerate(stream):
            if d.kind in ("rollback", "redeploy", "hotfix"):
                label[id(d)] = d.kind
            elif i > 0 and _key(d) is not None and _key(d) == _key(stream[i - 1]):
                label[id(d)] = "redeploy"
            elif _key(d) is not None and _key(d) in [_key(x) for x in stream[:i]]:
                label[id(d)] = "rollback"
            elif any("hotfix" in (n or "").lower() for n in (d.version, d.ref)):
                label[id(d)] = "hotfix"
            else:
                label[id(d)] = "normal"
            repo = d.repo or ""
            candidates: list[str] = []
            if label[id(d)] in ("rollback", "redeploy"):
                candidates = []
            elif d.commits is not None:
                candidates = list(d.commits)
            elif i > 0:
                p = stream[i - 1]
                if (repo, d.sha) in parents and (repo, p.sha) in parents:
                    assert d.sha is not None and p.sha is not None
                    between = ancestors(repo, d.sha) - ancestors(repo, p.sha)
                    candidates = [c for c in between if len(parents[repo, c]) <= 1]
            mine = []
            for c in candidates:
                if (repo, c) not in done:
                    done.add((repo, c))
                    mine.append((repo, c))
            shipped[id(d)] = mine
        if stream[0].environment.lower() not in PRODUCTION:
            continue
        for i, r in enumerate(stream):
            if label[id(r)] == "rollback":
                targets = [j for j in range(i) if _key(stream[j]) == _key(r)]
                if targets and label[id(stream[targets[-1] + 1])] != "rollback":
                    fails.setdefault(id(stream[targets[-1] + 1]), []).append(_finish(r))
            if label[id(r)] == "hotfix":
                if r.fixes is not None:
                    named = [j for j in range(i) if stream[j].id == r.fixes]
                    same = [j for j in named if stream[j].source == r.source]
                    chosen = (same or named)[-1:]
                    if chosen and label[id(stream[chosen[0]])] != "rollback":
                        fails.setdefault(id(stream[chosen[0]]), []).append(_finish(r))
                else:
                    before = [
                        j for j in range(i) if label[id(stream[j])] not in ("rollback", "hotfix")
                    ]
                    if before:
                        fails.setdefault(id(stream[before[-1]]), []).append(_finish(r))

    def production(environment: str | None) -> bool:
        return environment is None or environment.lower() in PRODUCTION

    prod = sorted((d for d in ok if production(d.environment)), key=_order)
    linked: dict[int, list[IncidentRecord]] = {}
    unattributed = 0
    restores = []
    for inc in incidents:
        if not production(inc.environment):
            continue
        of_service = [d for d in prod if d.service == inc.service]
        target = None
        named_deps = [d for d in of_service if d.id == inc.deployment_id]
        same_deps = [d for d in named_deps if d.source == inc.source]
        if inc.deployment_id is not None and named_deps:
            target = (same_deps or named_deps)[0]
        if target is None and inc.root_cause_sha is not None:
            holding = [
                d
                for d in of_service
                if inc.root_cause_sha in [s for _, s in shipped[id(d)]] + [d.sha]
            ]
            target = holding[0] if holding else None
        non_rollbacks = [d for d in of_service if label[id(d)] != "rollback"]
        if target is None and inc.version is not None:
            versioned = [d for d in non_rollbacks if d.version == inc.version]
            target = versioned[-1] if versioned else None
        if target is None:
            near = [
                d
                for d in non_rollbacks
                if d.finished_at is not None
                and inc.opened_at - WINDOW <= d.finished_at <= inc.opened_at
            ]
            target = near[-1] if near else None
        if target is not None and label[id(target)] != "rollback":
            linked.setdefault(id(target), []).append(inc)
        if since <= inc.opened_at < until:
            if target is None:
                unattributed += 1
            if inc.resolved_at is not None:
                restores.append(_hours(inc.resolved_at - inc.opened_at))

    counted = [d for d in prod if d.finished_at is not None and since <= d.finished_at < until]
    days = Fraction(int((until - since).total_seconds()), 86400)
    n = len(counted)
    frequency_tier = "low"
    for tier, bound in (("elite", 1), ("high", Fraction(1, 7)), ("medium", Fraction(1, 30))):
        if Fraction(n) / days >= bound:
            frequency_tier = tier
            break
    leads = []
    for d in counted:
        for repo, c in shipped[id(d)]:
            if (repo, c) in authored:
                assert d.finished_at is not None
                hours = _hours(d.finished_at - authored[repo, c])
                if hours > 0:
                    leads.append(hours)
    not_rollbacks = [d for d in counted if label[id(d)] != "rollback"]
    failed = [d for d in not_rollbacks if id(d) in fails or id(d) in linked]
    recoveries, unrecovered = [], 0
    for d in failed:
        restored = list(fails.get(id(d), []))
        incs = linked.get(id(d), [])
        if incs and all(i.resolved_at is not None for i in incs):
            restored.append(max(i.resolved_at for i in incs if i.resolved_at is not None))
        if restored:
            assert d.finished_at is not None
            recoveries.append(_hours(min(restored) - d.finished_at))
        else:
            unrecovered += 1
    rate = Fraction(len(failed), len(not_rollbacks)) if not_rollbacks else None
    fail_tier = None
    if rate is not None:
        fail_tier = "low"
        for tier, bound in (("elite", 5), ("high", 10), ("medium", 15)):
            if rate <= Fraction(bound, 100):
                fail_tier = tier
                break
    rework = sum(1 for d in counted if label[id(d)] in ("rollback", "hotfix"))
    lead_n, lead_median, lead_p90 = _spread(leads)
    rec_n, rec_median, rec_p90 = _spread(recoveries)
    ttr_n, ttr_median, ttr_p90 = _spread(restores)
    return {
        "deployment_frequency": {
            "deployments": n,
            "per_day": float(Fraction(n) / days),
            "per_week": float(Fraction(n) / days * 7),
            "tier": frequency_tier,
        },
        "change_lead_time": {
            "samples": lead_n,
            "median_hours": lead_median,
            "p90_hours": lead_p90,
            "tier": _duration_tier(lead_median, (24, 24 * 7, 24 * 30)),
        },
        "change_fail_rate": {
            "deployments": len(not_rollbacks),
            "failed": len(failed),
            "rate": None if rate is None else float(rate),
            "tier": fail_tier,
        },
        "failed_deployment_recovery_time": {
            "samples": rec_n,
            "median_hours": rec_median,
            "p90_hours": rec_p90,
            "unrecovered": unrecovered,
            "tier": _duration_tier(rec_median, (1, 24, 24 * 7)),
        },
        "deployment_rework_rate": {
            "deployments": n,
            "rework": rework,
            "rate": rework / n if n else None,
        },
        "time_to_restore": {"samples": ttr_n, "median_hours": ttr_median, "p90_hours": ttr_p90},
        "unattributed_incidents": unattributed,
    }
