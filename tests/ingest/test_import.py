"""NDJSON import: valid files round-trip exactly, invalid lines are named and write nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from errors import ImportRejected, InputError
from ingest.ndjson import import_files
from models import (
    Base,
    Build,
    Commit,
    Deployment,
    Incident,
    MonitorState,
    PullRequest,
    Service,
    TestCase,
)
from tests.conftest import FIXTURES

VALID = FIXTURES / "ndjson" / "valid.ndjson"
ALL_TABLES: tuple[type[Base], ...] = (
    Service,
    Commit,
    PullRequest,
    Build,
    TestCase,
    Deployment,
    Incident,
    MonitorState,
)


def snapshot(sessions: sessionmaker[Session]) -> dict[str, list[tuple[object, ...]]]:
    """Every stored row of every imported table, as plain tuples (ids included)."""
    with sessions() as session:
        return {
            model.__tablename__: [
                tuple(row)
                for row in session.execute(
                    select(*model.__table__.columns).order_by(model.__table__.c.id)
                )
            ]
            for model in ALL_TABLES
        }


def count_rows(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return sum(session.scalar(select(func.count()).select_from(m)) or 0 for m in ALL_TABLES)


def write_lines(tmp_path: Path, *lines: object) -> Path:
    path = tmp_path / "events.ndjson"
    path.write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    )
    return path


DEPLOYMENT = {
    "type": "deployment",
    "id": "dep-1",
    "service": "api",
    "environment": "production",
    "sha": "abcdef12",
    "status": "success",
    "finished_at": "2026-03-01T10:00:00Z",
}


def test_valid_file_stores_every_record_with_its_values(sessions: sessionmaker[Session]) -> None:
    report = import_files(sessions, [VALID])

    assert report.problems == []
    assert report.lines == 11
    assert dict(report.written) == {
        "services": 1,
        "commits": 2,
        "pull_requests": 1,
        "builds": 1,
        "test_cases": 2,
        "deployments": 2,
        "incidents": 1,
        "monitor_states": 1,
    }
    with sessions() as session:
        commit = session.scalars(select(Commit).where(Commit.sha == "b2b2b2b2")).one()
        assert commit.parents == ["a1a1a1a1"]
        assert commit.authored_at == datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # +01:00 -> UTC
        assert commit.committed_at is None
        assert commit.message == "fix retry"  # first line only
        deployment = session.scalars(
            select(Deployment).where(Deployment.external_id == "dep-17")
        ).one()
        assert (deployment.source, deployment.kind, deployment.commits) == (
            "import",
            "normal",
            ["b2b2b2b2"],
        )
        first = session.scalars(select(Deployment).where(Deployment.external_id == "dep-16")).one()
        assert first.commits is None  # "not given", unlike an explicit []
        incident = session.scalars(select(Incident)).one()
        assert (incident.environment, incident.status, incident.deployment) == (
            None,
            "resolved",
            "dep-17",
        )
        retry = session.scalars(select(TestCase).where(TestCase.attempt == 2)).one()
        build = session.get(Build, retry.build_id)
        assert build is not None and build.external_id == "gha-991"
        assert retry.flaky is True
        assert session.scalars(select(MonitorState.source)).one() == "datadog"


def test_importing_the_same_file_twice_changes_nothing(sessions: sessionmaker[Session]) -> None:
    import_files(sessions, [VALID])
    before = snapshot(sessions)

    import_files(sessions, [VALID])

    assert snapshot(sessions) == before


def test_a_record_repeated_in_one_file_keeps_its_last_line(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    path = write_lines(tmp_path, DEPLOYMENT, DEPLOYMENT | {"version": "2.0.0"})

    report = import_files(sessions, [path])

    assert report.written["deployments"] == 1
    with sessions() as session:
        assert session.scalars(select(Deployment.version)).all() == ["2.0.0"]


def test_a_later_import_updates_a_record_it_names_again(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    running = DEPLOYMENT | {"status": "running", "finished_at": None}
    import_files(sessions, [write_lines(tmp_path, running)])

    import_files(sessions, [write_lines(tmp_path, DEPLOYMENT)])

    with sessions() as session:
        assert session.scalars(select(Deployment.status)).all() == ["success"]


INVALID_LINES = [
    pytest.param(
        "{not json", "invalid JSON: key must be a string at line 1 column 2", id="bad-json"
    ),
    pytest.param("[1, 2]", "expected a JSON object, got a list", id="not-an-object"),
    pytest.param({"id": "x"}, "missing field 'type'", id="no-type"),
    pytest.param(
        {"type": "deploy"},
        "unknown type 'deploy' (expected one of: build, commit, deployment, incident, "
        "monitor_state, pull_request, service, test_case)",
        id="unknown-type",
    ),
    pytest.param(
        {k: v for k, v in DEPLOYMENT.items() if k != "service"},
        "deployment: missing field 'service'",
        id="missing-field",
    ),
    pytest.param(
        DEPLOYMENT | {"finished_at": "2026-13-01T10:00:00Z"},
        "deployment.finished_at: not an ISO 8601 timestamp: '2026-13-01T10:00:00Z' "
        "(month value is outside expected range of 1-12)",
        id="bad-timestamp",
    ),
    pytest.param(
        DEPLOYMENT | {"finished_at": "2026-03-01T10:00:00"},
        "deployment.finished_at: timestamp '2026-03-01T10:00:00' has no time zone "
        "(add Z or an offset such as +02:00)",
        id="timestamp-without-zone",
    ),
    pytest.param(
        DEPLOYMENT | {"finished_at": 1767225600},
        "deployment.finished_at: expected an ISO 8601 timestamp string, got a number",
        id="timestamp-as-number",
    ),
    pytest.param(
        DEPLOYMENT | {"commits": "abcdef12"},
        "deployment.commits: expected a list, got a string",
        id="wrong-type-list",
    ),
    pytest.param(
        {
            "type": "pull_request",
            "repo": "acme/api",
            "number": "42",
            "opened_at": "2026-03-01T10:00:00Z",
        },
        "pull_request.number: expected an integer, got a string",
        id="wrong-type-number",
    ),
    pytest.param(
        DEPLOYMENT | {"status": "ok"},
        "deployment.status: unknown status 'ok' "
        "(expected 'success', 'failure', 'cancelled' or 'running')",
        id="unknown-deployment-status",
    ),
    pytest.param(
        DEPLOYMENT | {"kind": "canary"},
        "deployment.kind: unknown kind 'canary' "
        "(expected 'normal', 'rollback', 'hotfix' or 'redeploy')",
        id="unknown-deployment-kind",
    ),
    pytest.param(
        DEPLOYMENT | {"finshed_at": "2026-03-01T10:00:00Z"},
        "deployment: unknown field 'finshed_at'",
        id="misspelt-field",
    ),
    pytest.param(
        DEPLOYMENT | {"sha": "not-a-sha"},
        "deployment.sha: 'not-a-sha' is not a hexadecimal git sha",
        id="bad-sha",
    ),
    pytest.param(
        DEPLOYMENT | {"status": "success", "finished_at": None},
        "deployment: missing field 'finished_at' (only a running deployment may omit it)",
        id="finished-deployment-without-finish",
    ),
    pytest.param(
        DEPLOYMENT | {"started_at": "2026-03-01T11:00:00Z"},
        "deployment: finished_at (2026-03-01T10:00:00+00:00) is before started_at "
        "(2026-03-01T11:00:00+00:00)",
        id="finished-before-started",
    ),
    pytest.param(
        {
            "type": "test_case",
            "build_id": "nope",
            "suite": "s",
            "name": "t",
            "outcome": "passed",
        },
        "test_case.build_id: no build 'nope' from source 'import' earlier in the input or in "
        "the database",
        id="test-case-of-unknown-build",
    ),
]


@pytest.mark.parametrize(("line", "message"), INVALID_LINES)
def test_an_invalid_line_is_named_and_nothing_is_written(
    sessions: sessionmaker[Session], tmp_path: Path, line: object, message: str
) -> None:
    path = write_lines(
        tmp_path, DEPLOYMENT | {"id": "good-before"}, line, DEPLOYMENT | {"id": "good-after"}
    )

    with pytest.raises(ImportRejected) as rejected:
        import_files(sessions, [path])

    assert rejected.value.problems == [f"{path}:2: {message}"]
    assert count_rows(sessions) == 0


def test_every_invalid_line_is_reported_in_file_order(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    path = write_lines(
        tmp_path, {"type": "x"}, DEPLOYMENT, "", "nope", DEPLOYMENT | {"status": "ok"}
    )

    with pytest.raises(ImportRejected) as rejected:
        import_files(sessions, [path])

    assert [problem.split(": ")[0] for problem in rejected.value.problems] == [
        f"{path}:1",
        f"{path}:4",
        f"{path}:5",
    ]


def test_an_invalid_line_in_a_second_file_keeps_the_first_file_out_too(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    second = tmp_path / "second.ndjson"
    second.write_text('{"type": "nope"}\n')

    with pytest.raises(ImportRejected):
        import_files(sessions, [VALID, second])

    assert count_rows(sessions) == 0


def test_skip_invalid_writes_the_valid_lines_and_reports_the_rest(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    path = write_lines(
        tmp_path,
        DEPLOYMENT,
        DEPLOYMENT | {"id": "dep-2", "status": "ok"},
        DEPLOYMENT | {"id": "dep-3"},
        {"type": "test_case", "build_id": "nope", "suite": "s", "name": "t", "outcome": "passed"},
    )

    report = import_files(sessions, [path], skip_invalid=True)

    assert [problem.split(": ")[0] for problem in report.problems] == [f"{path}:2", f"{path}:4"]
    assert report.written["deployments"] == 2
    with sessions() as session:
        assert sorted(session.scalars(select(Deployment.external_id))) == ["dep-1", "dep-3"]


def test_a_missing_file_is_an_input_error(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        import_files(sessions, [tmp_path / "absent.ndjson"])
