"""Datadog collectors against a local fake API (pytest-httpserver, the real datadog-api-client).

The client type-checks every response against its own models, so each fixture here is
also proof that it has Datadog's documented shape.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug import Request, Response

from collectors.runner import Runner
from integrations.datadog import datadog_client
from models import Incident, MonitorState
from settings import ServiceConfig, Settings, SourceConfig
from tests.collectors.conftest import NOW, Sleeps, cursor_of, run_streams
from tests.conftest import FIXTURES

FIX = FIXTURES / "datadog"
API_KEY = "dd-api-key-never-printed"
APP_KEY = "dd-app-key-never-printed"
OPEN_ID = "d3c614dc-93e7-4648-b104-b4047548deca"


def payload(name: str) -> Any:
    return json.loads((FIX / name).read_text())


def respond(name: str) -> Response:
    return Response((FIX / name).read_text(), content_type="application/json")


@pytest.fixture(autouse=True)
def app_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DD_APP_KEY", APP_KEY)


def dd_settings(
    make_settings: Callable[..., Settings], server: HTTPServer, *streams: str
) -> Settings:
    source = SourceConfig(
        kind="datadog",
        base_url=server.url_for("/"),
        token_env="DD_API_KEY",
        app_key_env="DD_APP_KEY",
        scopes=["*"],
        streams=list(streams),
        page_size=2,
    )
    catalog = {
        "payments": ServiceConfig(environments=["staging", "production"]),
        "checkout": ServiceConfig(),
        "search": ServiceConfig(),
    }
    return make_settings(sources={"dd": source}, services=catalog)


def dd_runner(make_runner: Callable[..., Runner], settings: Settings, **values: Any) -> Runner:
    return make_runner(settings, environ={"DD_API_KEY": API_KEY}, **values)


def serve_incident_search(server: HTTPServer, *pages: str) -> None:
    """Serve the incident search: `pages` at their offsets, then an empty page."""
    by_offset: dict[int, str] = {}
    offset = 0
    for name in pages:
        by_offset[offset] = name
        offset += len(payload(name)["data"]["attributes"]["incidents"])

    def handler(request: Request) -> Response:
        assert request.headers["DD-API-KEY"] == API_KEY
        assert request.headers["DD-APPLICATION-KEY"] == APP_KEY
        assert request.args["sort"] == "-created"
        assert request.args["query"] == "state:(active OR stable OR resolved)"
        offset = int(request.args["page[offset]"])
        return respond(by_offset.get(offset, "incidents_search_empty.json"))

    server.expect_request("/api/v2/incidents/search").respond_with_handler(handler)


def incidents(sessions: sessionmaker[Session]) -> dict[str, Incident]:
    with sessions() as session:
        return {row.external_id: row for row in session.scalars(select(Incident))}


def states(sessions: sessionmaker[Session]) -> list[tuple[Any, ...]]:
    with sessions() as session:
        rows = session.scalars(select(MonitorState).order_by(MonitorState.monitor)).all()
        return [(r.monitor, r.service, r.state, r.value, r.observed_at) for r in rows]


def test_incidents_are_read_newest_first_until_the_window_and_mapped_to_the_catalog(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    serve_incident_search(
        httpserver,
        "incidents_search_page_1.json",
        "incidents_search_page_2.json",
        "incidents_search_page_2.json",  # never asked for: page 2 is older than the window
    )

    settings = dd_settings(make_settings, httpserver, "incidents")

    [result] = run_streams(dd_runner(make_runner, settings))

    assert result.status == "success", result.error
    stored = incidents(sessions)
    # The drill (`is_test`) is left out; so are the incidents older than the window.
    assert sorted(stored) == ["7a9fbb1e-0c2f-4b8e-9d35-2f1e4b7c8a10", OPEN_ID]
    open_one = stored[OPEN_ID]
    assert (open_one.service, open_one.environment) == ("payments", "production")
    assert (open_one.severity, open_one.status, open_one.resolved_at) == ("SEV-2", "open", None)
    assert open_one.opened_at == NOW.replace(hour=14, minute=30)  # detected, before declared
    assert open_one.version == "1.4.2"
    assert open_one.root_cause_sha == "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
    resolved = stored["7a9fbb1e-0c2f-4b8e-9d35-2f1e4b7c8a10"]
    assert (resolved.service, resolved.status) == ("search", "resolved")
    assert resolved.resolved_at == NOW.replace(day=4, hour=10, minute=15)
    assert [r.args["page[offset]"] for r, _ in httpserver.log] == ["0", "3"]
    assert cursor_of(sessions, "incidents") == {
        "since": (NOW - timedelta(minutes=2)).isoformat(),
        "open": {OPEN_ID: "2026-01-05T14:30:00+00:00"},
    }


def test_an_incident_resolving_between_two_collections_is_refetched_by_id(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    settings = dd_settings(make_settings, httpserver, "incidents")
    serve_incident_search(httpserver, "incidents_search_page_1.json")
    run_streams(dd_runner(make_runner, settings))
    httpserver.clear()
    serve_incident_search(httpserver)  # nothing new in the window
    httpserver.expect_request(f"/api/v2/incidents/{OPEN_ID}").respond_with_json(
        payload("incident_d3c614dc_resolved.json")
    )

    [result] = run_streams(dd_runner(make_runner, settings, now=NOW + timedelta(hours=3)))

    assert result.status == "success", result.error
    row = incidents(sessions)[OPEN_ID]
    assert (row.status, row.resolved_at) == ("resolved", NOW.replace(hour=15, minute=40))
    assert cursor_of(sessions, "incidents")["open"] == {}  # type: ignore[index]


def test_a_duplicate_delivery_changes_no_incident(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    settings = dd_settings(make_settings, httpserver, "incidents")
    serve_incident_search(httpserver, "incidents_search_page_1.json")
    run_streams(dd_runner(make_runner, settings))
    first = {key: (row.id, row.status, row.opened_at) for key, row in incidents(sessions).items()}

    run_streams(dd_runner(make_runner, settings))

    again = {key: (row.id, row.status, row.opened_at) for key, row in incidents(sessions).items()}
    assert again == first


def test_monitor_states_are_a_snapshot_per_service_and_unknown_states_are_no_data(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    httpserver.expect_request(
        "/api/v1/monitor", query_string="page=0&page_size=2"
    ).respond_with_json(payload("monitors_page_0.json"))
    httpserver.expect_request(
        "/api/v1/monitor", query_string="page=1&page_size=2"
    ).respond_with_json(payload("monitors_page_1.json"))

    [result] = run_streams(
        dd_runner(make_runner, dd_settings(make_settings, httpserver, "monitors"))
    )

    assert result.status == "success", result.error
    assert states(sessions) == [
        ("monitor:34822915", None, "no_data", None, NOW),
        ("monitor:7061921", "payments", "alert", None, NOW),
        ("monitor:7061922@checkout", "checkout", "ok", None, NOW),
        ("monitor:7061922@payments", "payments", "ok", None, NOW),
    ]


def test_monitor_events_are_paged_by_cursor_into_transition_points(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    bodies: list[Any] = []

    def handler(request: Request) -> Response:
        body = json.loads(request.data)
        bodies.append(body)
        cursor = body["page"].get("cursor")
        return respond("events_search_page_2.json" if cursor else "events_search_page_1.json")

    httpserver.expect_request("/api/v2/events/search", method="POST").respond_with_handler(handler)

    [result] = run_streams(
        dd_runner(make_runner, dd_settings(make_settings, httpserver, "monitor_events"))
    )

    assert result.status == "success", result.error
    assert [(m, s, state) for m, s, state, _, _ in states(sessions)] == [
        ("monitor:7061921", "payments", "alert"),
        ("monitor:7061921", "payments", "ok"),
        ("monitor:7061921", "payments", "no_data"),
    ]
    assert bodies[0]["filter"] == {
        "query": "source:alert",
        "from": "2025-12-06T16:00:00+00:00",
        "to": "2026-01-05T15:58:00+00:00",
    }
    assert bodies[0]["sort"] == "timestamp"
    assert bodies[1]["page"]["cursor"] == "eyJhZnRlciI6IkFnQUFBWUdDRldoUV9BZHZQZ0FB"
    assert cursor_of(sessions, "monitor_events") == {"since": "2026-01-05T15:58:00+00:00"}


def test_slos_store_their_sli_and_an_slo_without_one_is_no_data(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    httpserver.expect_request("/api/v1/slo", query_string="limit=2&offset=0").respond_with_json(
        payload("slos.json")
    )
    httpserver.expect_request("/api/v1/slo", query_string="limit=2&offset=2").respond_with_json(
        {"data": [], "errors": None}
    )
    httpserver.expect_request(
        "/api/v1/slo/627a3ccd24af50beb8eacbd36c5962f9/history"
    ).respond_with_json(payload("slo_627a_history.json"))
    httpserver.expect_request(
        "/api/v1/slo/9b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e/history"
    ).respond_with_json(payload("slo_9b1c_history_no_data.json"))

    [result] = run_streams(dd_runner(make_runner, dd_settings(make_settings, httpserver, "slos")))

    assert result.status == "success", result.error
    assert states(sessions) == [
        ("slo:627a3ccd24af50beb8eacbd36c5962f9", "payments", "warn", 99.65, NOW),
        ("slo:9b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e", "search", "no_data", None, NOW),
    ]
    history = [r for r, _ in httpserver.log if r.path.endswith("/history")]
    assert history[0].args["from_ts"] == str(int((NOW - timedelta(days=7)).timestamp()))
    assert history[1].args["from_ts"] == str(int((NOW - timedelta(days=30)).timestamp()))


def test_a_rate_limit_waits_the_seconds_x_ratelimit_reset_gives(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
    sleeps: Sleeps,
) -> None:
    httpserver.expect_ordered_request("/api/v2/incidents/search").respond_with_json(
        {"errors": ["Rate limit exceeded"]},
        status=429,
        headers={"X-RateLimit-Reset": "4", "X-RateLimit-Remaining": "0"},
    )
    serve_incident_search(httpserver, "incidents_search_page_1.json")

    [result] = run_streams(
        dd_runner(make_runner, dd_settings(make_settings, httpserver, "incidents"))
    )

    assert result.status == "success", result.error
    assert sleeps == [4.0]
    assert len(incidents(sessions)) == 2


def test_a_reset_longer_than_the_longest_wait_fails_the_run_at_once(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sleeps: Sleeps,
) -> None:
    httpserver.expect_request("/api/v2/incidents/search").respond_with_json(
        {"errors": ["Rate limit exceeded"]}, status=429, headers={"X-RateLimit-Reset": "3600"}
    )

    [result] = run_streams(
        dd_runner(make_runner, dd_settings(make_settings, httpserver, "incidents"))
    )

    assert result.status == "failed"
    assert "rate limited for 3600 s more" in (result.error or "")
    assert sleeps == []


def test_a_persistent_server_error_fails_the_run_after_the_retries(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    httpserver.expect_request("/api/v1/monitor").respond_with_data("oops", status=502)

    [result] = run_streams(
        dd_runner(make_runner, dd_settings(make_settings, httpserver, "monitors"))
    )

    assert result.status == "failed"
    assert "502" in (result.error or "")
    assert len(httpserver.log) == 3  # the first attempt and two retries
    assert states(sessions) == []


@pytest.mark.parametrize("status", [401, 403])
def test_bad_keys_are_a_configuration_error_that_never_quotes_them(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    status: int,
) -> None:
    httpserver.expect_request("/api/v1/monitor").respond_with_json(
        {"errors": ["Forbidden"]}, status=status
    )

    [result] = run_streams(
        dd_runner(make_runner, dd_settings(make_settings, httpserver, "monitors"))
    )

    assert result.status == "failed"
    error = result.error or ""
    assert "check the connection's site or base_url and its API and application keys" in error
    assert API_KEY not in error
    assert APP_KEY not in error
    assert len(httpserver.log) == 1


@pytest.mark.parametrize(
    ("site", "host"),
    [
        pytest.param("datadoghq.eu", "https://api.datadoghq.eu", id="eu"),
        pytest.param(None, "https://api.datadoghq.com", id="default-us1"),
    ],
)
def test_the_site_selects_the_regional_api_whatever_dd_site_says(
    monkeypatch: pytest.MonkeyPatch, site: str | None, host: str
) -> None:
    monkeypatch.setenv("DD_SITE", "ddog-gov.com")  # only the connection's settings count

    client = datadog_client("dd", api_key=API_KEY, app_key=APP_KEY, site=site)

    assert client.api.configuration.host == host
    client.close()


def test_an_unset_application_key_variable_names_the_variable(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DD_APP_KEY")

    [result] = run_streams(
        dd_runner(make_runner, dd_settings(make_settings, httpserver, "monitors"))
    )

    assert result.status == "failed"
    assert "DD_APP_KEY" in (result.error or "")
    assert httpserver.log == []


def test_a_truncated_body_fails_the_run_as_unreadable(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
) -> None:
    httpserver.expect_request("/api/v1/monitor").respond_with_data(
        '[{"id": 70619', content_type="application/json"
    )

    [result] = run_streams(
        dd_runner(make_runner, dd_settings(make_settings, httpserver, "monitors"))
    )

    assert result.status == "failed"
    assert "does not have the documented shape" in (result.error or "")


def test_an_item_the_models_cannot_read_is_skipped_and_reported(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    good = payload("monitors_page_1.json")[0]
    bad = good | {"id": "not-a-number"}
    monitors = "/api/v1/monitor"
    httpserver.expect_request(monitors, query_string="page=0&page_size=2").respond_with_json(
        [bad, good]
    )
    httpserver.expect_request(monitors, query_string="page=1&page_size=2").respond_with_json([])

    [result] = run_streams(
        dd_runner(make_runner, dd_settings(make_settings, httpserver, "monitors"))
    )

    assert result.status == "success", result.error
    assert result.problems == (
        "GET /api/v1/monitor?page=0: item 0 does not have the documented shape",
    )
    assert [monitor for monitor, *_ in states(sessions)] == ["monitor:34822915"]
