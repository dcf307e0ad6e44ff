"""The demo generator: determinism, idempotent writes, and the invariants its stored data keeps.

The invariant tests share one small demo per backend (`stored_demo`, module scoped): writing
it for every test would cost seconds each. Because the function-scoped `sessions` fixture
empties every table after its test, the one test using it comes first in this file, before
`stored_demo` is set up.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, exists, func, select
from sqlalchemy.orm import Session, aliased, sessionmaker

from ingest.demo import SCALES, Scale, generate, write_demo
from ingest.records import RECORD_ADAPTER
from models import Base, Build, Commit, Deployment, Incident, MonitorState, PullRequest, TestCase
from models.base import UTCDateTime
from models.db import session_factory

END = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)  # a Monday afternoon: the window starts mid-day
SEED = 7
TINY = Scale(services=3, days=14, monitor_interval=timedelta(hours=6))
SMALL = SCALES["small"]
START = END - timedelta(days=SMALL.days)
ATTRIBUTION_WINDOW = timedelta(hours=24)


def _snapshot(sessions: sessionmaker[Session]) -> dict[str, list[tuple[Any, ...]]]:
    with sessions() as session:
        return {
            table.name: [
                tuple(row)
                for row in session.execute(table.select().order_by(*table.primary_key.columns))
            ]
            for table in Base.metadata.sorted_tables
        }


def _empty(engine: Engine) -> None:
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())


def test_writing_the_same_demo_twice_leaves_the_stored_rows_unchanged(
    sessions: sessionmaker[Session],
) -> None:
    written = write_demo(sessions, TINY, seed=SEED, end=END)
    first = _snapshot(sessions)

    again = write_demo(sessions, TINY, seed=SEED, end=END)

    assert _snapshot(sessions) == first
    assert again == written
    assert {name: len(rows) for name, rows in first.items() if rows} == dict(written)


def test_the_same_seed_and_end_generate_identical_records_in_identical_order() -> None:
    assert list(generate(TINY, seed=SEED, end=END)) == list(generate(TINY, seed=SEED, end=END))


def test_another_seed_generates_other_data() -> None:
    commits = {
        seed: [r for r in generate(TINY, seed=seed, end=END) if r.type == "commit"]
        for seed in (1, 2)
    }

    assert {c.sha for c in commits[1]}.isdisjoint(c.sha for c in commits[2])


def test_another_end_shifts_the_history_with_it() -> None:
    later = END + timedelta(days=3)

    records = list(generate(TINY, seed=SEED, end=later))

    times = [r.authored_at for r in records if r.type == "commit"]
    assert min(times) == later - timedelta(days=TINY.days)
    assert max(times) < later


def test_a_naive_end_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next(generate(TINY, seed=SEED, end=END.replace(tzinfo=None)))


def test_every_generated_record_passes_the_record_schema_unchanged() -> None:
    # The generator skips validation for speed (model_construct); this keeps it honest.
    records = list(generate(SMALL, seed=SEED, end=END))

    types = Counter(record.type for record in records)
    invalid = [r for r in records if RECORD_ADAPTER.validate_python(r.model_dump()) != r]

    assert invalid == []
    assert set(types) == {
        "service", "commit", "pull_request", "build", "test_case", "deployment", "incident",
        "monitor_state",
    }  # fmt: skip


def test_a_scale_too_small_for_a_test_catalog_is_refused() -> None:
    with pytest.raises(ValueError, match="tests_per_build"):
        Scale(services=1, days=1, tests_per_build=3)


@pytest.fixture(scope="module")
def stored_demo(migrated_engine: Engine) -> Iterator[sessionmaker[Session]]:
    """The small demo written once per backend; the tables are emptied afterwards."""
    _empty(migrated_engine)
    sessions = session_factory(migrated_engine)
    write_demo(sessions, SMALL, seed=SEED, end=END)
    yield sessions
    _empty(migrated_engine)


@pytest.fixture(scope="module")
def deployments(stored_demo: sessionmaker[Session]) -> list[Deployment]:
    """Every stored deployment in stream order (DESIGN §4)."""
    with stored_demo() as session:
        order = (Deployment.finished_at, Deployment.started_at, Deployment.external_id)
        return list(session.scalars(select(Deployment).order_by(*order)))


@pytest.fixture(scope="module")
def commits(stored_demo: sessionmaker[Session]) -> dict[tuple[str, str], Commit]:
    with stored_demo() as session:
        return {(c.repo, c.sha): c for c in session.scalars(select(Commit))}


def _streams(deployments: list[Deployment]) -> dict[tuple[str, str], list[Deployment]]:
    streams: dict[tuple[str, str], list[Deployment]] = defaultdict(list)
    for deployment in deployments:
        streams[deployment.service, deployment.environment].append(deployment)
    return streams


def _successful(stream: list[Deployment]) -> list[Deployment]:
    return [d for d in stream if d.status == "success"]


def test_every_stored_time_lies_in_the_demo_window(stored_demo: sessionmaker[Session]) -> None:
    outside = {}
    with stored_demo() as session:
        for table in Base.metadata.sorted_tables:
            for column in table.c:
                if isinstance(column.type, UTCDateTime):
                    low, high = session.execute(select(func.min(column), func.max(column))).one()
                    if low is not None and not START <= low <= high < END:
                        outside[f"{table.name}.{column.name}"] = (low, high)

    assert outside == {}


def test_every_parent_is_a_stored_commit_and_each_repo_has_one_root(
    commits: dict[tuple[str, str], Commit],
) -> None:
    missing = [
        (repo, parent)
        for (repo, _), c in commits.items()
        for parent in c.parents
        if (repo, parent) not in commits
    ]
    roots = Counter(repo for (repo, _), c in commits.items() if not c.parents)

    assert missing == []
    assert set(roots.values()) == {1}
    assert len(roots) == SMALL.services
    assert all(c.authored_at <= c.committed_at for c in commits.values() if c.committed_at)


def test_pull_requests_merge_through_a_two_parent_merge_commit(
    stored_demo: sessionmaker[Session], commits: dict[tuple[str, str], Commit]
) -> None:
    with stored_demo() as session:
        merged = list(
            session.scalars(select(PullRequest).where(PullRequest.merged_at.is_not(None)))
        )

    assert merged
    for pr in merged:
        assert pr.merge_commit_sha and pr.first_commit_at and pr.merged_at
        merge = commits[pr.repo, pr.merge_commit_sha]
        assert len(merge.parents) == 2
        assert merge.committed_at == pr.merged_at
        assert pr.first_commit_at <= pr.opened_at <= pr.merged_at


def test_every_build_starts_after_the_commit_it_builds(stored_demo: sessionmaker[Session]) -> None:
    with stored_demo() as session:
        early = session.scalar(
            select(func.count())
            .select_from(Build)
            .join(Commit, (Commit.repo == Build.repo) & (Commit.sha == Build.sha))
            .where(Build.started_at < Commit.committed_at)
        )
        unbuilt = session.scalar(
            select(func.count())
            .select_from(Build)
            .where(~exists().where(Commit.repo == Build.repo, Commit.sha == Build.sha))
        )

    assert (early, unbuilt) == (0, 0)


def test_every_deployed_sha_was_committed_and_built_green_before_the_deployment(
    stored_demo: sessionmaker[Session],
) -> None:
    with stored_demo() as session:
        uncommitted = session.scalar(
            select(func.count())
            .select_from(Deployment)
            .where(~exists().where(Commit.repo == Deployment.repo, Commit.sha == Deployment.sha))
        )
        unbuilt = session.scalar(
            select(func.count())
            .select_from(Deployment)
            .where(
                ~exists().where(
                    Build.repo == Deployment.repo,
                    Build.sha == Deployment.sha,
                    Build.status == "success",
                    Build.finished_at <= Deployment.started_at,
                )
            )
        )

    assert (uncommitted, unbuilt) == (0, 0)


def test_explicit_commit_lists_name_commits_of_the_deployments_repo(
    deployments: list[Deployment], commits: dict[tuple[str, str], Commit]
) -> None:
    explicit = [d for d in deployments if d.commits is not None]

    assert explicit
    assert all(
        d.repo is not None and (d.repo, sha) in commits for d in explicit for sha in d.commits or []
    )


def test_deployments_finish_after_they_start_unless_still_running(
    deployments: list[Deployment],
) -> None:
    for d in deployments:
        assert d.started_at is not None
        assert (d.finished_at is None) == (d.status == "running")
        assert d.finished_at is None or d.finished_at >= d.started_at


def test_rollbacks_return_to_a_version_the_stream_ran_before(deployments: list[Deployment]) -> None:
    for stream in _streams(deployments).values():
        for index, d in enumerate(stream):
            if d.kind == "rollback":
                earlier = {e.version for e in _successful(stream[:index])}
                assert d.version in earlier, d.external_id


def test_hotfix_fixes_names_an_earlier_successful_deployment_of_its_stream(
    deployments: list[Deployment],
) -> None:
    fixing = 0
    for stream in _streams(deployments).values():
        for index, d in enumerate(stream):
            if d.fixes is not None:
                fixing += 1
                assert d.fixes in {e.external_id for e in _successful(stream[:index])}, (
                    d.external_id
                )

    assert fixing


def test_incidents_resolve_after_they_open_and_open_after_their_deployment(
    stored_demo: sessionmaker[Session],
) -> None:
    with stored_demo() as session:
        backwards = session.scalar(
            select(func.count())
            .select_from(Incident)
            .where(Incident.resolved_at < Incident.opened_at)
        )
        cause = aliased(Deployment)
        before_cause = session.scalar(
            select(func.count())
            .select_from(Incident)
            .join(cause, cause.external_id == Incident.deployment)
            .where(Incident.opened_at <= cause.finished_at)
        )

    assert (backwards, before_cause) == (0, 0)


def test_monitors_alert_while_an_incident_is_open(stored_demo: sessionmaker[Session]) -> None:
    with stored_demo() as session:
        incidents = list(session.scalars(select(Incident)))
        silent = [
            i.external_id
            for i in incidents
            if (i.resolved_at or END) - i.opened_at >= timedelta(hours=2)
            and not session.scalar(
                select(func.count())
                .select_from(MonitorState)
                .where(
                    MonitorState.service == i.service,
                    MonitorState.state == "alert",
                    MonitorState.observed_at.between(i.opened_at, i.resolved_at or END),
                )
            )
        ]

    assert incidents
    assert silent == []


def test_services_land_in_different_deployment_frequency_tiers(
    deployments: list[Deployment],
) -> None:
    shipped = Counter(
        d.service
        for d in deployments
        if d.environment == "production" and d.status == "success" and d.finished_at
    )
    services = {d.service for d in deployments}
    tiers = set()
    for service in services:
        rate = shipped[service] / SMALL.days
        tiers.add(
            "elite"
            if rate >= 1
            else "high"
            if rate >= 1 / 7
            else "medium"
            if rate >= 1 / 30
            else "low"
        )

    assert tiers == {"elite", "high", "medium", "low"}


def _is_attributable(incident: Incident, production: list[Deployment]) -> bool:
    """Whether any DORA link rule could apply: a hint, or a deployment in the time window."""
    if incident.deployment or incident.root_cause_sha or incident.version:
        return True
    return any(
        d.service == incident.service
        and d.finished_at is not None
        and timedelta(0) <= incident.opened_at - d.finished_at <= ATTRIBUTION_WINDOW
        for d in production
    )


def test_the_demo_contains_every_case_the_metrics_must_handle(
    stored_demo: sessionmaker[Session],
    deployments: list[Deployment],
    commits: dict[tuple[str, str], Commit],
) -> None:
    production = [d for d in deployments if d.environment == "production" and d.status == "success"]
    inferred_rollbacks = inferred_redeploys = two_version_rollbacks = 0
    for stream in _streams(production).values():
        for index, d in enumerate(stream[1:], start=1):
            versions = [e.version for e in stream[:index]]
            if d.kind == "normal" and d.version == versions[-1]:
                inferred_redeploys += 1
            elif d.kind == "normal" and d.version in versions:
                inferred_rollbacks += 1
            if d.version in versions:
                last = len(versions) - 1 - versions[::-1].index(d.version)
                two_version_rollbacks += len(set(versions[last:])) > 2
    with stored_demo() as session:
        incidents = list(session.scalars(select(Incident)))
        first_try = aliased(TestCase)
        flaky = session.scalar(
            select(func.count())
            .select_from(TestCase)
            .join(
                first_try,
                (first_try.build_id == TestCase.build_id)
                & (first_try.suite == TestCase.suite)
                & (first_try.classname == TestCase.classname)
                & (first_try.name == TestCase.name)
                & (first_try.attempt == 1),
            )
            .where(
                TestCase.flaky.is_(True),
                TestCase.attempt == 2,
                TestCase.outcome == "passed",
                first_try.outcome == "failed",
            )
        )
        builds = Counter(session.scalars(select(Build.status)))
    hotfixes = [d for d in production if d.version and "hotfix" in d.version]
    cases = {
        "explicit rollback": sum(d.kind == "rollback" for d in production),
        "inferred rollback": inferred_rollbacks,
        "rollback over two versions": two_version_rollbacks,
        "explicit hotfix": sum(d.kind == "hotfix" for d in hotfixes),
        "inferred hotfix": sum(d.kind == "normal" for d in hotfixes),
        "hotfix naming what it fixes": sum(d.fixes is not None for d in hotfixes),
        "hotfix naming nothing": sum(d.fixes is None for d in hotfixes),
        "explicit redeploy": sum(d.kind == "redeploy" for d in production),
        "inferred redeploy": inferred_redeploys,
        "failed deployment": sum(d.status == "failure" for d in deployments),
        "cancelled deployment": sum(d.status == "cancelled" for d in deployments),
        "staging deployment": sum(d.environment == "staging" for d in deployments),
        "explicit commit list": sum(d.commits is not None for d in production),
        "merge commit": sum(len(c.parents) == 2 for c in commits.values()),
        "flaky test": flaky or 0,
        "failed build": builds["failure"],
        "incident linked by deployment id": sum(i.deployment is not None for i in incidents),
        "incident linked by root cause sha": sum(i.root_cause_sha is not None for i in incidents),
        "incident linked by version": sum(i.version is not None for i in incidents),
        "incident linked by time only": sum(
            not (i.deployment or i.root_cause_sha or i.version) and _is_attributable(i, production)
            for i in incidents
        ),
        "unattributable incident": sum(not _is_attributable(i, production) for i in incidents),
        "open incident": sum(i.resolved_at is None for i in incidents),
        "incident without environment": sum(i.environment is None for i in incidents),
    }

    assert [case for case, count in cases.items() if not count] == []
