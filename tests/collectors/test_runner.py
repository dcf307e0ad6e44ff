"""The runner: leases between workers, stopping after a page, the `collect` command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from pytest_httpserver import HTTPServer
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug import Request, Response

from collectors.runner import Runner, acquire_lease, ensure_state
from collectors.streams import configured_streams
from models import Build, CollectorRun, HttpCacheEntry
from settings import PROJECT_ROOT, Settings, SourceConfig
from tests.collectors.conftest import NOW, TOKEN, cursor_of, run_streams
from tests.conftest import FIXTURES

FIX = FIXTURES / "github"
REPO = "octo-org/octo-repo"
RUNS = f"/api/v3/repos/{REPO}/actions/runs"
PAGED = "/api/v3/repositories/300029405/actions/runs"


def runs_settings(make_settings: Callable[..., Settings], server: HTTPServer) -> Settings:
    source = SourceConfig(
        kind="github",
        base_url=server.url_for("/api/v3"),
        token_env="GH_TOKEN",
        scopes=[REPO],
        streams=["workflow_runs"],
        build_jobs=False,
    )
    return make_settings(sources={"gh": source})


def serve_two_pages(server: HTTPServer, on_page_2: Callable[[], None] = lambda: None) -> None:
    page_1 = json.loads((FIX / "runs_page_1.json").read_text())
    page_2 = (FIX / "runs_page_2.json").read_text()

    def second(_request: Request) -> Response:
        on_page_2()
        return Response(page_2, content_type="application/json")

    link = {"Link": f'<{server.url_for(PAGED)}?page=2>; rel="next"'}
    server.expect_request(RUNS).respond_with_json(page_1, headers=link)
    server.expect_request(PAGED, query_string="page=2").respond_with_handler(second)


def builds(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(Build)) or 0


def test_a_stream_leased_by_another_worker_is_left_alone_until_the_lease_expires(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    settings = runs_settings(make_settings, httpserver)
    serve_two_pages(httpserver)
    [stream] = configured_streams(settings)
    with sessions.begin() as session:
        ensure_state(session, stream)
        assert acquire_lease(session, stream, "worker-a", NOW, timedelta(minutes=10))

    [busy] = make_runner(settings, owner="worker-b").run_all([stream])
    [taken_over] = make_runner(settings, owner="worker-b", now=NOW + timedelta(minutes=11)).run_all(
        [stream]
    )

    assert busy.status == "busy"
    assert taken_over.status == "success"
    assert builds(sessions) == 4
    with sessions() as session:
        statuses = session.scalars(select(CollectorRun.status)).all()
    assert statuses == ["success"]  # a busy stream opens no run


def test_two_workers_racing_for_a_lease_get_it_exactly_once(
    make_settings: Callable[..., Settings], sessions: sessionmaker[Session]
) -> None:
    source = SourceConfig(kind="github", token_env="GH_TOKEN", scopes=[REPO])
    [stream, *_] = configured_streams(make_settings(sources={"gh": source}))
    with sessions.begin() as session:
        ensure_state(session, stream)
    start = threading.Barrier(8)
    won: list[str] = []

    def worker(name: str) -> None:
        start.wait()
        with sessions.begin() as session:
            if acquire_lease(session, stream, name, NOW, timedelta(minutes=10)):
                won.append(name)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(won) == 1


def test_stopping_ends_the_run_after_the_page_being_written_and_keeps_the_cursor(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    settings = runs_settings(make_settings, httpserver)
    runner = make_runner(settings)
    serve_two_pages(httpserver, on_page_2=runner.stop.set)  # Ctrl-C while page 2 downloads

    [stopped] = run_streams(runner)

    assert stopped.status == "stopped"
    assert builds(sessions) == 2  # page 1 committed; page 2 never written
    assert cursor_of(sessions, "workflow_runs") is None

    [again] = run_streams(make_runner(settings))

    assert again.status == "success"
    assert builds(sessions) == 4


def run_cli(*args: str, db_url: str, config: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = (
        os.environ
        | env
        | {
            "FLIGHTDECK_DATABASE_URL": db_url,
            "FLIGHTDECK_CONFIG": str(config),
        }
    )
    return subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "cli.py"), *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )


def test_collect_runs_the_named_stream_once_and_reports_it(
    httpserver: HTTPServer, db_url: str, tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    serve_two_pages(httpserver)
    config = tmp_path / "flightdeck.toml"
    config.write_text(
        f'[sources.gh]\nkind = "github"\nbase_url = "{httpserver.url_for("/api/v3")}"\n'
        f'token_env = "GH_TOKEN"\nscopes = ["{REPO}"]\nstreams = ["workflow_runs"]\n'
        "build_jobs = false\n"
    )

    result = run_cli("collect", "gh:workflow_runs", db_url=db_url, config=config, GH_TOKEN=TOKEN)
    unknown = run_cli("collect", "gitlab", db_url=db_url, config=config, GH_TOKEN=TOKEN)
    no_token = run_cli("collect", db_url=db_url, config=config, GH_TOKEN="")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"success  gh:workflow_runs:{REPO}: 4 rows"
    assert builds(sessions) == 4
    assert unknown.returncode == 1
    assert " ".join(unknown.stderr.split()) == (
        f"error: no configured stream matches 'gitlab' (streams: gh:workflow_runs:{REPO})"
    )
    assert no_token.returncode == 1
    assert "GH_TOKEN (its token_env) is not set" in no_token.stderr
    assert TOKEN not in result.stdout + result.stderr + no_token.stderr


def test_a_successful_run_drops_cache_entries_not_refreshed_for_weeks(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    serve_two_pages(httpserver)
    with sessions.begin() as session:
        for key, age in (("stale", timedelta(days=46)), ("fresh", timedelta(days=44))):
            session.add(
                HttpCacheEntry(key=key, url=f"http://x/{key}", body="[]", fetched_at=NOW - age)
            )

    run_streams(make_runner(runs_settings(make_settings, httpserver)))

    with sessions() as session:
        keys = set(session.scalars(select(HttpCacheEntry.key)))
    assert "stale" not in keys and "fresh" in keys


def test_a_collection_killed_mid_run_and_run_again_equals_one_clean_run(
    httpserver: HTTPServer,
    db_url: str,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    engine: Any,
) -> None:
    config = tmp_path / "flightdeck.toml"
    config.write_text(
        f'[sources.gh]\nkind = "github"\nbase_url = "{httpserver.url_for("/api/v3")}"\n'
        f'token_env = "GH_TOKEN"\nscopes = ["{REPO}"]\nstreams = ["workflow_runs"]\n'
        "build_jobs = false\n"
    )

    def snapshot() -> tuple[list[tuple[Any, ...]], Any]:
        with sessions() as session:
            rows = session.execute(
                select(
                    Build.external_id, Build.status, Build.finished_at, Build.source_updated_at
                ).order_by(Build.external_id)
            ).all()
        cursor = dict(cursor_of(sessions, "workflow_runs") or {})
        cursor.pop("since", None)  # "now" less the settle delay: differs between the runs
        return [tuple(row) for row in rows], cursor

    serve_two_pages(httpserver)
    assert run_cli("collect", db_url=db_url, config=config, GH_TOKEN=TOKEN).returncode == 0
    clean = snapshot()
    with engine.begin() as connection:
        for table in ("builds", "collector_state", "collector_runs", "http_cache"):
            connection.exec_driver_sql(f"DELETE FROM {table}")  # noqa: S608 - fixed names
    httpserver.clear()
    page_2_asked, release = threading.Event(), threading.Event()

    def hang() -> None:
        page_2_asked.set()
        release.wait(30)

    serve_two_pages(httpserver, on_page_2=hang)
    environment = os.environ | {
        "FLIGHTDECK_DATABASE_URL": db_url,
        "FLIGHTDECK_CONFIG": str(config),
        "GH_TOKEN": TOKEN,
    }
    victim = subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / "cli.py"), "collect"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert page_2_asked.wait(60), "the collection never asked for page 2"
    victim.kill()  # SIGKILL: no cleanup, no signal handler, a lease left behind
    victim.wait()
    release.set()
    httpserver.clear()
    serve_two_pages(httpserver)
    with engine.begin() as connection:
        # The killed run's lease would keep the stream busy until it expires (10 minutes);
        # expire it now rather than wait.
        connection.exec_driver_sql(
            "UPDATE collector_state SET lease_expires_at = CURRENT_TIMESTAMP - INTERVAL '1 day'"
            if connection.dialect.name == "postgresql"
            else "UPDATE collector_state SET lease_expires_at = '2000-01-01 00:00:00'"
        )

    again = run_cli("collect", db_url=db_url, config=config, GH_TOKEN=TOKEN)

    assert victim.returncode == -signal.SIGKILL
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("success")
    assert snapshot() == clean
