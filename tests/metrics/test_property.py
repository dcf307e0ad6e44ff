"""The SQL-backed engine against the naive reference (`reference.py`) on random histories."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from ingest.records import CommitRecord, DeploymentRecord, IncidentRecord, Record
from ingest.writer import RecordWriter
from metrics import EngineConfig, Filters, dora_summary
from models import Base
from tests.metrics.history import REPO, at, sha
from tests.metrics.reference import reference

VERSIONS = ["1", "2", "3", "2-hotfix", None]
KINDS = [None, None, None, "normal", "rollback", "redeploy", "hotfix"]
ENVIRONMENTS = ["production", "production", "Prod", "staging"]


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[Record], float, float]:
    """A random small world: a commit DAG (with merges and holes), deployments, incidents."""
    count = draw(st.integers(1, 10))
    commits: list[CommitRecord] = []
    for index in range(count):
        earlier = [f"c{j}" for j in range(index)] + ["hole"]
        parents = draw(st.lists(st.sampled_from(earlier), max_size=2, unique=True))
        commits.append(
            CommitRecord(
                type="commit",
                repo=REPO,
                sha=sha(f"c{index}"),
                parents=[sha(p) for p in parents],
                authored_at=at(draw(st.integers(0, 60))),
            )
        )
    names = [f"c{j}" for j in range(count)] + ["ghost"]
    deployments: list[DeploymentRecord] = []
    for index in range(draw(st.integers(0, 12))):
        version = draw(st.sampled_from(VERSIONS))
        commit = draw(st.sampled_from([*names, None])) if version else draw(st.sampled_from(names))
        finished = draw(st.integers(0, 120))
        started = draw(st.sampled_from([None, finished, finished - 1]))
        explicit = draw(st.none() | st.lists(st.sampled_from(names), max_size=3))
        earlier_ids = [d.id for d in deployments] + ["nope"]
        deployments.append(
            DeploymentRecord(
                type="deployment",
                id=f"d{index}",
                source=draw(st.sampled_from(["import", "import", "other"])),
                service=draw(st.sampled_from(["api", "api", "web"])),
                environment=draw(st.sampled_from(ENVIRONMENTS)),
                sha=sha(commit) if commit else None,
                version=version,
                ref=draw(st.sampled_from([None, "main", "hotfix/x"])),
                repo=REPO,
                status=draw(st.sampled_from(["success"] * 5 + ["failure", "cancelled"])),
                kind=draw(st.sampled_from(KINDS)),
                fixes=draw(st.none() | st.sampled_from(earlier_ids)),
                commits=None if explicit is None else [sha(c) for c in explicit],
                started_at=None if started is None or started < 0 else at(started),
                finished_at=at(finished),
            )
        )
    incidents: list[IncidentRecord] = []
    for index in range(draw(st.integers(0, 6))):
        opened = draw(st.integers(0, 130))
        duration = draw(st.none() | st.integers(0, 30))
        incidents.append(
            IncidentRecord(
                type="incident",
                id=f"i{index}",
                source=draw(st.sampled_from(["import", "other"])),
                service=draw(st.sampled_from(["api", "web"])),
                environment=draw(st.sampled_from([*ENVIRONMENTS, None])),
                opened_at=at(opened),
                resolved_at=None if duration is None else at(opened + duration),
                deployment_id=draw(
                    st.none() | st.sampled_from([d.id for d in deployments] or ["x"])
                ),
                root_cause_sha=draw(st.none() | st.sampled_from([sha(n) for n in names])),
                version=draw(st.sampled_from(VERSIONS)),
            )
        )
    since = draw(st.integers(0, 100))
    until = draw(st.integers(since + 1, 140))
    return [*commits, *deployments, *incidents], since, until


def _close(expected: Any, actual: Any) -> bool:
    if isinstance(expected, dict):
        return expected.keys() == actual.keys() and all(
            _close(expected[k], actual[k]) for k in expected
        )
    if isinstance(expected, float):
        return isinstance(actual, float) and actual == pytest.approx(expected, rel=1e-12)
    return bool(expected == actual)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(world=histories())
def test_engine_matches_the_reference_on_random_histories(
    engine: Engine, world: tuple[list[Record], float, float]
) -> None:
    records, since, until = world
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
    sessions = sessionmaker(engine)
    with sessions.begin() as session:
        writer = RecordWriter(session)
        for record in records:
            writer.add(record)
        writer.flush()
    with sessions.begin() as session:
        got = dora_summary(
            session, Filters(since=at(since), until=at(until), config=EngineConfig())
        ).to_json()
    got.pop("window")
    expected = reference(
        [r for r in records if isinstance(r, CommitRecord)],
        [r for r in records if isinstance(r, DeploymentRecord)],
        [r for r in records if isinstance(r, IncidentRecord)],
        at(since),
        at(until),
    )

    assert _close(expected, got), (expected, got)


def test_the_reference_agrees_on_a_hand_computed_history() -> None:
    commits = [
        CommitRecord(type="commit", repo=REPO, sha=sha("a"), parents=[], authored_at=at(0)),
        CommitRecord(type="commit", repo=REPO, sha=sha("b"), parents=[sha("a")], authored_at=at(1)),
    ]
    deployments = [
        DeploymentRecord(
            type="deployment", id="d1", service="api", environment="production", sha=sha("a"),
            version="1", repo=REPO, status="success", finished_at=at(2),
        ),
        DeploymentRecord(
            type="deployment", id="d2", service="api", environment="production", sha=sha("b"),
            version="2", repo=REPO, status="success", finished_at=at(5),
        ),
    ]  # fmt: skip

    result = reference(commits, deployments, [], at(0), at(0) + timedelta(days=1))

    assert result["change_lead_time"]["median_hours"] == 4.0
    assert result["deployment_frequency"]["tier"] == "elite"
