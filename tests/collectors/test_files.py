"""File and repository sources: NDJSON (file, folder, URL) and a local git repository."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytest_httpserver import HTTPServer
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from collectors.runner import Runner
from models import Build, Commit, Deployment, Incident, TestCase
from settings import Settings, SourceConfig
from tests.collectors.conftest import cursor_of, run_streams
from tests.conftest import FIXTURES

EVENTS = FIXTURES / "ndjson_source"


def count(sessions: sessionmaker[Session], model: type[Any]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def ndjson_settings(make_settings: Callable[..., Settings], scope: str) -> Settings:
    return make_settings(sources={"events": SourceConfig(kind="ndjson", scopes=[scope])})


# ---- NDJSON ----------------------------------------------------------------------------


def test_a_growing_file_is_read_from_where_the_last_run_stopped(
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    events = tmp_path / "events.ndjson"
    lines = (EVENTS / "events_1.ndjson").read_text().splitlines(keepends=True)
    # The third line is still being written: no newline yet.
    events.write_text(lines[0] + lines[1] + lines[2].rstrip("\n"))
    settings = ndjson_settings(make_settings, str(events))

    [first] = run_streams(make_runner(settings))
    with events.open("a") as stream:
        stream.write("\n")
    [second] = run_streams(make_runner(settings))
    [third] = run_streams(make_runner(settings))

    assert (first.rows, second.rows, third.rows) == (2, 1, 0)
    assert (count(sessions, Build), count(sessions, TestCase), count(sessions, Deployment)) == (
        1,
        1,
        1,
    )
    cursor = cursor_of(sessions, "events")
    assert cursor is not None
    assert (cursor["offset"], cursor["line"]) == (events.stat().st_size, 4)


def test_a_folder_has_each_new_file_read_once_and_invalid_lines_reported(
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    shutil.copy(EVENTS / "events_1.ndjson", tmp_path)
    settings = ndjson_settings(make_settings, str(tmp_path))
    [first] = run_streams(make_runner(settings))
    shutil.copy(EVENTS / "events_2_with_bad_line.ndjson", tmp_path)

    [second] = run_streams(make_runner(settings))
    [third] = run_streams(make_runner(settings))

    assert (first.rows, second.rows, third.rows) == (3, 1, 0)
    assert second.status == "success"
    assert second.problems == (
        f"{tmp_path / 'events_2_with_bad_line.ndjson'}:2: deployment.finished_at: timestamp "
        "'2026-03-02T12:05:00' has no time zone (add Z or an offset such as +02:00)",
    )
    assert count(sessions, Incident) == 1
    assert cursor_of(sessions, "events") == {
        "done": ["events_1.ndjson", "events_2_with_bad_line.ndjson"]
    }


def test_a_url_is_fetched_conditionally_and_an_unchanged_body_adds_nothing(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    body = (EVENTS / "events_1.ndjson").read_text()
    httpserver.expect_request(
        "/export.ndjson", headers={"If-None-Match": '"v1"'}
    ).respond_with_data("", status=304)
    httpserver.expect_request("/export.ndjson").respond_with_data(
        body, content_type="application/x-ndjson", headers={"ETag": '"v1"'}
    )
    settings = ndjson_settings(make_settings, httpserver.url_for("/export.ndjson"))

    [first] = run_streams(make_runner(settings))
    [second] = run_streams(make_runner(settings))

    assert (first.status, first.rows) == ("success", 3)
    assert (second.status, second.rows) == ("success", 0)
    assert [response.status_code for _, response in httpserver.log] == [200, 304]


def test_a_missing_path_is_a_configuration_error(
    tmp_path: Path, make_settings: Callable[..., Settings], make_runner: Callable[..., Runner]
) -> None:
    [result] = run_streams(make_runner(ndjson_settings(make_settings, str(tmp_path / "nope"))))

    assert result.status == "failed"
    assert (
        result.error == f"connection 'events': {tmp_path / 'nope'} is neither a file nor a folder"
    )


# ---- git -------------------------------------------------------------------------------


def git(repo: Path, *args: str, when: str = "2026-03-01T10:00:00+00:00") -> str:
    env = {
        "GIT_AUTHOR_NAME": "Dana",
        "GIT_AUTHOR_EMAIL": "dana@example.com",
        "GIT_COMMITTER_NAME": "Dana",
        "GIT_COMMITTER_EMAIL": "dana@example.com",
        "GIT_AUTHOR_DATE": when,
        "GIT_COMMITTER_DATE": when,
        "HOME": str(repo),
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(
        ["git", "-C", str(repo), *args], env=env, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def commit(repo: Path, message: str, when: str) -> str:
    git(repo, "commit", "--allow-empty", "-q", "-m", message, when=when)
    return git(repo, "rev-parse", "HEAD")


def test_a_git_repository_gives_commits_with_parents_each_read_once(
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    repo = tmp_path / "api"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    root = commit(repo, "initial commit", "2026-03-01T10:00:00+00:00")
    git(repo, "checkout", "-q", "-b", "feature")
    feature = commit(repo, "fix retry\n\nwith a body", "2026-03-01T11:00:00+02:00")
    git(repo, "checkout", "-q", "main")
    main = commit(repo, "docs", "2026-03-01T12:00:00+00:00")
    git(
        repo,
        "merge",
        "-q",
        "--no-ff",
        "-m",
        "Merge feature",
        "feature",
        when="2026-03-01T13:00:00Z",
    )
    merge = git(repo, "rev-parse", "HEAD")
    source = SourceConfig(kind="git", scopes=[f"acme/api={repo}"])
    settings = make_settings(sources={"repo": source})

    [first] = run_streams(make_runner(settings))
    later = commit(repo, "later", "2026-03-02T09:00:00+00:00")
    [second] = run_streams(make_runner(settings))

    assert (first.status, first.rows, second.rows) == ("success", 4, 1)
    with sessions() as session:
        stored = {c.sha: c for c in session.scalars(select(Commit))}
    assert set(stored) == {root, feature, main, merge, later}
    assert stored[merge].parents == [main, feature]
    assert stored[root].parents == []
    assert (stored[feature].repo, stored[feature].message) == ("acme/api", "fix retry")
    assert stored[feature].authored_at.isoformat() == "2026-03-01T09:00:00+00:00"


def test_a_folder_that_is_not_a_repository_is_a_configuration_error(
    tmp_path: Path, make_settings: Callable[..., Settings], make_runner: Callable[..., Runner]
) -> None:
    settings = make_settings(sources={"repo": SourceConfig(kind="git", scopes=[str(tmp_path)])})

    [result] = run_streams(make_runner(settings))

    assert result.status == "failed"
    assert result.error is not None
    assert result.error.startswith(f"git for-each-ref in {tmp_path} failed: fatal: not a git")
