"""PagerDuty incidents against a local fake of REST v2 (pytest-httpserver, the real client)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from pytest_httpserver import HTTPServer
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug import Request, Response

from collectors.runner import Runner
from models import Incident
from settings import ServiceConfig, Settings, SourceConfig
from tests.collectors.conftest import NOW, Sleeps, cursor_of, run_streams
from tests.conftest import FIXTURES

FIX = FIXTURES / "pagerduty"
PD_TOKEN = "pd-test-key-never-printed"


def payload(name: str) -> Any:
    return json.loads((FIX / name).read_text())


def pd_settings(make_settings: Callable[..., Settings], server: HTTPServer) -> Settings:
    source = SourceConfig(
        kind="pagerduty",
        base_url=server.url_for("/"),
        token_env="PD_TOKEN",
        scopes=["*"],
        page_size=2,
        service_map={"PIJ90N7": "payments"},
    )
    catalog = {"payments": ServiceConfig(), "search": ServiceConfig()}
    return make_settings(sources={"pd": source}, services=catalog)


def pd_runner(make_runner: Callable[..., Runner], settings: Settings, **values: Any) -> Runner:
    return make_runner(settings, environ={"PD_TOKEN": PD_TOKEN}, **values)


def serve_incidents(server: HTTPServer, listed: bool = True) -> None:
    """Serve `/incidents`: the count, then two pages (or nothing when not `listed`)."""

    def handler(request: Request) -> Response:
        assert request.headers["Authorization"] == f"Token token={PD_TOKEN}"
        assert request.headers["Accept"] == "application/vnd.pagerduty+json;version=2"
        if not listed:
            name = "incidents_empty.json"
        elif request.args.get("total") == "true":
            name = "incidents_total.json"
        else:
            name = (
                "incidents_page_2.json"
                if request.args.get("offset") == "2"
                else ("incidents_page_1.json")
            )
        return Response(json.dumps(payload(name)), content_type="application/json")

    server.expect_request("/incidents").respond_with_handler(handler)


def incidents(sessions: sessionmaker[Session]) -> dict[str, tuple[Any, ...]]:
    with sessions() as session:
        rows = session.scalars(select(Incident)).all()
        return {
            row.external_id: (row.service, row.severity, row.status, row.resolved_at)
            for row in rows
        }


def test_pages_of_incidents_are_stored_with_services_mapped_to_the_catalog(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    serve_incidents(httpserver)

    [result] = run_streams(pd_runner(make_runner, pd_settings(make_settings, httpserver)))

    assert result.status == "success", result.error
    stored = incidents(sessions)
    assert stored["PT4KHLK"][:3] == ("payments", "P1", "resolved")  # by service id
    assert stored["PQ1ABCD"][:3] == ("search", "low", "resolved")  # by name, any case
    # Resolved without resolved_at: it resolved at its last status change.
    assert stored["PQ1ABCD"][3] == NOW.replace(hour=11, minute=30)
    assert stored["PX9OPEN"][:3] == ("payments", "P2", "open")
    listed = [r for r, _ in httpserver.log if r.args.get("total") is None]
    assert [r.args["offset"] for r in listed] == ["0", "2"]
    assert listed[0].args["sort_by"] == "created_at:asc"
    assert cursor_of(sessions, "incidents") == {
        "since": (NOW - timedelta(minutes=2)).isoformat(),
        "open": {"PX9OPEN": "2026-01-05T12:00:00+00:00"},
    }


def test_an_incident_resolving_between_two_collections_is_repolled_by_id(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    settings = pd_settings(make_settings, httpserver)
    serve_incidents(httpserver)
    run_streams(pd_runner(make_runner, settings))
    httpserver.clear()
    serve_incidents(httpserver, listed=False)  # it no longer falls in the window
    httpserver.expect_request("/incidents/PX9OPEN").respond_with_json(
        payload("incident_PX9OPEN_resolved.json")
    )

    [result] = run_streams(pd_runner(make_runner, settings, now=NOW + timedelta(days=1)))

    assert result.status == "success", result.error
    assert incidents(sessions)["PX9OPEN"][2:] == ("resolved", NOW.replace(minute=30))
    assert cursor_of(sessions, "incidents")["open"] == {}  # type: ignore[index]


def test_a_duplicate_delivery_changes_no_rows(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    settings = pd_settings(make_settings, httpserver)
    serve_incidents(httpserver)
    run_streams(pd_runner(make_runner, settings))
    first = incidents(sessions)
    with sessions() as session:
        ids = sorted(session.scalars(select(Incident.id)))

    run_streams(pd_runner(make_runner, settings))  # same window, same pages

    assert incidents(sessions) == first
    with sessions() as session:
        assert sorted(session.scalars(select(Incident.id))) == ids


def test_a_rate_limit_waits_as_long_as_retry_after_says(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
    sleeps: Sleeps,
) -> None:
    httpserver.expect_ordered_request("/incidents").respond_with_json(
        {"error": {"message": "Rate Limit Exceeded", "code": 2020}},
        status=429,
        headers={"Retry-After": "7"},
    )
    serve_incidents(httpserver)

    [result] = run_streams(pd_runner(make_runner, pd_settings(make_settings, httpserver)))

    assert result.status == "success", result.error
    assert sleeps == [7.0]
    assert len(incidents(sessions)) == 3


def test_a_persistent_server_error_fails_the_run_and_keeps_the_cursor(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    httpserver.expect_request("/incidents").respond_with_data("upstream down", status=503)

    [result] = run_streams(pd_runner(make_runner, pd_settings(make_settings, httpserver)))

    assert result.status == "failed"
    assert "server error 503" in (result.error or "")
    assert "gave up after 3 attempts" in (result.error or "")
    assert cursor_of(sessions, "incidents") is None


def test_a_rejected_key_is_a_configuration_error_that_never_quotes_the_key(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
) -> None:
    httpserver.expect_request("/incidents").respond_with_json(
        {"error": {"message": "Authentication failed", "code": 2006}}, status=401
    )

    [result] = run_streams(pd_runner(make_runner, pd_settings(make_settings, httpserver)))

    assert result.status == "failed"
    assert "401 UNAUTHORIZED, the credential was rejected" in (result.error or "")
    assert PD_TOKEN not in (result.error or "")
    assert len(httpserver.log) == 1  # never retried


def test_an_unset_key_variable_names_the_variable(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
) -> None:
    settings = pd_settings(make_settings, httpserver)

    [result] = run_streams(make_runner(settings, environ={}))

    assert result.status == "failed"
    assert "PD_TOKEN" in (result.error or "")
    assert httpserver.log == []


def test_a_truncated_body_fails_the_run_as_unreadable(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
) -> None:
    httpserver.expect_request("/incidents").respond_with_data(
        '{"incidents": [{"id": "PT4', content_type="application/json"
    )

    [result] = run_streams(pd_runner(make_runner, pd_settings(make_settings, httpserver)))

    assert result.status == "failed"
    assert "not valid JSON" in (result.error or "")
