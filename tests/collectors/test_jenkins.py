"""The Jenkins collector against a local fake controller (tree= queries, allBuilds ranges)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from pytest_httpserver import HTTPServer
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug import Request, Response

from collectors.runner import Runner
from models import Build, TestCase
from settings import Settings, SourceConfig
from tests.collectors.conftest import NOW, TOKEN, cursor_of, run_streams
from tests.conftest import FIXTURES

FIX = FIXTURES / "jenkins"
MAIN = "/job/payments/job/api/job/main"


def payload(name: str) -> Any:
    return json.loads((FIX / name).read_text())


def serve_controller(server: HTTPServer, finished_1158: bool = False) -> None:
    builds = payload("all_builds_main.json")["allBuilds"]
    if finished_1158:
        builds[0] = builds[0] | {"result": "SUCCESS", "building": False, "duration": 250000}

    def job_api(request: Request) -> Response:
        tree = request.args["tree"]
        if tree.startswith("allBuilds"):
            start, end = map(int, re.search(r"\{(\d+),(\d+)\}$", tree).groups())  # type: ignore[union-attr]
            body: Any = {"allBuilds": builds[start:end]}
        else:
            body = payload("leaf_job.json")
        return Response(json.dumps(body), content_type="application/json")

    server.expect_request("/job/payments/api/json").respond_with_json(
        payload("folder_payments.json")
    )
    server.expect_request("/job/payments/job/api/api/json").respond_with_json(
        payload("multibranch_api.json")
    )
    server.expect_request(f"{MAIN}/api/json").respond_with_handler(job_api)
    server.expect_request("/job/payments/job/nightly/api/json").respond_with_json(
        {"_class": "hudson.model.FreeStyleProject", "allBuilds": []}
    )
    server.expect_request(f"{MAIN}/1157/api/json").respond_with_json(payload("build_1157.json"))
    server.expect_request(f"{MAIN}/1157/testReport/api/json").respond_with_json(
        payload("test_report_1157.json")
    )
    done = payload("build_1158_done.json")
    running = done | {"result": None, "building": True, "duration": 0}
    server.expect_request(f"{MAIN}/1158/api/json").respond_with_json(
        done if finished_1158 else running
    )
    server.expect_request(re.compile(rf"^{MAIN}/\d+/api/json$")).respond_with_handler(
        lambda request: Response(
            json.dumps(next(b for b in builds if f"/{b['number']}/" in request.path)),
            content_type="application/json",
        )
    )
    server.expect_request(re.compile(r".*/testReport/api/json$")).respond_with_data(
        "Not found", status=404
    )


def jenkins_settings(make_settings: Callable[..., Settings], server: HTTPServer) -> Settings:
    source = SourceConfig(
        kind="jenkins",
        base_url=server.url_for("/"),
        username="flightdeck",
        token_env="GH_TOKEN",
        scopes=["payments"],
        page_size=2,  # three allBuilds{a,b} pages for the fixture's five builds
    )
    return make_settings(sources={"jk": source})


def stored(sessions: sessionmaker[Session]) -> dict[str, tuple[str, str | None]]:
    with sessions() as session:
        return {b.external_id: (b.status, b.sha) for b in session.scalars(select(Build))}


def test_builds_of_every_job_in_a_folder_and_multibranch_project_are_collected(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    serve_controller(httpserver)

    [result] = run_streams(make_runner(jenkins_settings(make_settings, httpserver)))

    assert (result.status, result.error) == ("success", None)
    # 1100 predates the 30-day backfill, so paging stops there.
    assert stored(sessions) == {
        "payments/api/main#1158": ("running", "77adc9350f2cc9b250b69abddab733dd55e1a588"),
        "payments/api/main#1157": ("failure", "66adc9350f2cc9b250b69abddab733dd55e1a588"),
        "payments/api/main#1155": ("success", None),
        "payments/api/main#1154": ("cancelled", None),
    }
    with sessions() as session:
        build = session.scalars(select(Build).where(Build.external_id.endswith("#1157"))).one()
        cases = {c.name: c.outcome for c in session.scalars(select(TestCase))}
    assert build.branch == "main"
    assert build.finished_at is not None and build.started_at is not None
    assert build.finished_at - build.started_at == timedelta(milliseconds=412345)
    assert cases == {
        "ok": "passed",
        "bad_password": "failed",
        "fixed": "passed",
        "later": "skipped",
    }
    ranges = [r.args["tree"][-5:] for r, _ in httpserver.log if r.path == f"{MAIN}/api/json"]
    assert ranges == ["{0,2}", "{2,4}", "{4,6}"]
    auth = httpserver.log[0][0].authorization
    assert auth is not None and (auth.username, auth.password) == ("flightdeck", TOKEN)
    assert cursor_of(sessions, "builds") == {
        "jobs": {
            "payments/api/main": {"last": 1157, "open": [1158]},
            "payments/nightly": {"last": 0, "open": []},
        }
    }


def test_a_build_still_running_is_re_polled_until_it_finishes(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    settings = jenkins_settings(make_settings, httpserver)
    serve_controller(httpserver)
    run_streams(make_runner(settings))
    httpserver.clear()
    serve_controller(httpserver, finished_1158=True)

    [result] = run_streams(make_runner(settings, now=NOW + timedelta(hours=1)))

    assert result.status == "success"
    assert stored(sessions)["payments/api/main#1158"][0] == "success"
    listed = [r.args["tree"][-5:] for r, _ in httpserver.log if r.path == f"{MAIN}/api/json"]
    assert listed == ["{0,2}"]  # the newest page reaches the cursor: no deeper paging
    assert cursor_of(sessions, "builds") == {
        "jobs": {
            "payments/api/main": {"last": 1158, "open": []},
            "payments/nightly": {"last": 0, "open": []},
        }
    }


def test_a_jenkins_connection_without_a_username_is_a_configuration_error(
    make_settings: Callable[..., Settings], make_runner: Callable[..., Runner]
) -> None:
    source = SourceConfig(
        kind="jenkins", base_url="http://127.0.0.1:9", token_env="GH_TOKEN", scopes=["x"]
    )

    [result] = run_streams(make_runner(make_settings(sources={"jk": source})))

    assert result.status == "failed"
    assert "needs `base_url` and `username`" in (result.error or "")
