"""OpenSearch collectors against a local fake cluster (pytest-httpserver, real opensearch-py)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pytest_httpserver import HTTPServer
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug import Request, Response

from collectors.runner import Runner
from models import Deployment, Incident, MonitorState
from settings import ServiceConfig, Settings, SourceConfig
from tests.collectors.conftest import NOW, cursor_of, run_streams
from tests.conftest import FIXTURES

FIX = FIXTURES / "opensearch"
PASSWORD = "os-password-never-printed"
SEARCH = "/logs-*/_search"
ALERTS = "/_plugins/_alerting/monitors/alerts"
PAY = "logs-*:payments.error_rate"


def payload(name: str) -> Any:
    return json.loads((FIX / name).read_text())


def os_settings(
    make_settings: Callable[..., Settings], server: HTTPServer, *streams: str, **options: Any
) -> Settings:
    source = SourceConfig(
        kind="opensearch",
        hosts=[server.url_for("/")],
        username="flightdeck",
        token_env="OS_PASSWORD",
        scopes=["logs-*"],
        streams=list(streams),
        backfill_days=1,
        page_size=2,
        service_map={"awUMa3gBKo1jAh6qu47E": "payments"},
        **options,
    )
    catalog = {"payments": ServiceConfig(), "search": ServiceConfig(), "queue": ServiceConfig()}
    return make_settings(sources={"os": source}, services=catalog)


def os_runner(make_runner: Callable[..., Runner], settings: Settings, **values: Any) -> Runner:
    return make_runner(settings, environ={"OS_PASSWORD": PASSWORD}, **values)


def at(minute: int) -> datetime:
    return NOW.replace(hour=15, minute=minute)


def points(sessions: sessionmaker[Session]) -> list[tuple[Any, ...]]:
    with sessions() as session:
        rows = session.scalars(
            select(MonitorState).order_by(MonitorState.monitor, MonitorState.observed_at)
        ).all()
        return [
            (
                r.monitor,
                r.service,
                r.observed_at,
                r.state,
                None if r.value is None else round(r.value, 4),
            )
            for r in rows
        ]


def test_the_error_rate_query_asks_for_per_service_and_version_histograms_of_errors(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
) -> None:
    httpserver.expect_request(SEARCH, method="POST").respond_with_json(payload("error_rates.json"))

    [result] = run_streams(
        os_runner(make_runner, os_settings(make_settings, httpserver, "error_rates"))
    )

    assert result.status == "success", result.error
    [(request, _)] = httpserver.log
    assert json.loads(request.data) == payload("error_rates_request.json")
    expected_auth = base64.b64encode(f"flightdeck:{PASSWORD}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected_auth}"


def test_a_custom_error_query_replaces_the_level_filter(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
) -> None:
    httpserver.expect_request(SEARCH, method="POST").respond_with_json(payload("error_rates.json"))
    settings = os_settings(
        make_settings,
        httpserver,
        "error_rates",
        error_query="http.response.status_code:>=500",
        version_field="",
    )

    run_streams(os_runner(make_runner, settings))

    body = json.loads(httpserver.log[0][0].data)
    per_service = body["aggs"]["services"]["aggs"]
    assert list(per_service) == ["buckets"]  # no per-version series
    assert per_service["buckets"]["aggs"]["errors"]["filter"] == {
        "query_string": {"query": "http.response.status_code:>=500"}
    }


def test_buckets_become_rates_and_thin_or_empty_buckets_are_no_data(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    httpserver.expect_request(SEARCH, method="POST").respond_with_json(payload("error_rates.json"))

    run_streams(os_runner(make_runner, os_settings(make_settings, httpserver, "error_rates")))

    assert points(sessions) == [
        (PAY, "payments", at(40), "ok", 0.0125),
        (PAY, "payments", at(45), "no_data", 0.05),  # 40 logs < min_samples
        (PAY, "payments", at(50), "no_data", None),  # no logs at all
        (f"{PAY}@1.4.2", "payments", at(40), "ok", 0.002),
        (f"{PAY}@1.4.2", "payments", at(45), "no_data", None),
        (f"{PAY}@1.4.2", "payments", at(50), "no_data", None),
        (f"{PAY}@1.4.3", "payments", at(40), "ok", 0.0588),
        (f"{PAY}@1.4.3", "payments", at(45), "no_data", 0.05),
        (f"{PAY}@1.4.3", "payments", at(50), "no_data", None),
        # "Search" in the logs is the catalog's "search".
        ("logs-*:search.error_rate", "search", at(40), "ok", 0.0),
        ("logs-*:search.error_rate", "search", at(45), "ok", 0.002),
        ("logs-*:search.error_rate", "search", at(50), "ok", 0.0),
    ]
    assert cursor_of(sessions, "error_rates") == {"since": "2026-01-05T15:55:00+00:00"}


def test_a_search_that_timed_out_or_lost_shards_is_stored_as_no_data(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    httpserver.expect_request(SEARCH, method="POST").respond_with_json(
        payload("error_rates_partial.json")
    )

    run_streams(os_runner(make_runner, os_settings(make_settings, httpserver, "error_rates")))

    assert {(state, value) for _, _, _, state, value in points(sessions)} == {("no_data", None)}


def test_the_next_run_recomputes_the_lookback_and_a_duplicate_changes_no_rows(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    settings = os_settings(make_settings, httpserver, "error_rates")
    httpserver.expect_request(SEARCH, method="POST").respond_with_json(payload("error_rates.json"))
    run_streams(os_runner(make_runner, settings))
    first = points(sessions)

    [result] = run_streams(os_runner(make_runner, settings, now=NOW + timedelta(minutes=10)))

    assert result.status == "success", result.error
    window = json.loads(httpserver.log[1][0].data)["query"]["bool"]["filter"][0]["range"]
    assert window["@timestamp"] == {
        "gte": "2026-01-05T14:55:00+00:00",  # the cursor (15:55) less the hour of lookback
        "lt": "2026-01-05T16:05:00+00:00",
    }
    assert points(sessions) == first
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(MonitorState)) == len(first)


def test_a_full_search_queue_is_retried_by_the_client(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    rejected = {"error": {"type": "es_rejected_execution_exception"}, "status": 429}
    httpserver.expect_ordered_request(SEARCH).respond_with_json(rejected, status=429)
    httpserver.expect_ordered_request(SEARCH).respond_with_json(payload("error_rates.json"))

    [result] = run_streams(
        os_runner(make_runner, os_settings(make_settings, httpserver, "error_rates"))
    )

    assert result.status == "success", result.error
    assert len(httpserver.log) == 2
    assert len(points(sessions)) == 12


def test_a_persistent_server_error_fails_the_run_after_the_retries(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    httpserver.expect_request(SEARCH).respond_with_data("bad gateway", status=502)

    [result] = run_streams(
        os_runner(make_runner, os_settings(make_settings, httpserver, "error_rates"))
    )

    assert result.status == "failed"
    assert "502" in (result.error or "")
    assert len(httpserver.log) == 3
    assert cursor_of(sessions, "error_rates") is None


def test_a_rejected_password_is_a_configuration_error_that_never_quotes_it(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
) -> None:
    httpserver.expect_request(SEARCH).respond_with_json(
        {"error": "Unauthorized", "status": 401}, status=401
    )

    [result] = run_streams(
        os_runner(make_runner, os_settings(make_settings, httpserver, "error_rates"))
    )

    assert result.status == "failed"
    error = result.error or ""
    assert "the credential was rejected" in error
    assert PASSWORD not in error
    assert len(httpserver.log) == 1


def test_a_body_that_is_not_json_fails_the_run_as_unreadable(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
) -> None:
    httpserver.expect_request(SEARCH).respond_with_data(
        '{"took": 3, "aggregations": {"serv', content_type="application/json"
    )

    [result] = run_streams(
        os_runner(make_runner, os_settings(make_settings, httpserver, "error_rates"))
    )

    assert result.status == "failed"
    assert "not valid JSON" in (result.error or "")


def serve_alerts(server: HTTPServer, first_page: str) -> None:
    server.expect_request(
        ALERTS,
        query_string={
            "alertState": "ALL",
            "sortString": "start_time",
            "sortOrder": "desc",
            "size": "2",
            "startIndex": "0",
        },
    ).respond_with_json(payload(first_page))
    server.expect_request(
        ALERTS,
        query_string={
            "alertState": "ALL",
            "sortString": "start_time",
            "sortOrder": "desc",
            "size": "2",
            "startIndex": "2",
        },
    ).respond_with_json(payload("alerts_page_2.json"))


def alerts(sessions: sessionmaker[Session]) -> dict[str, tuple[Any, ...]]:
    with sessions() as session:
        return {
            row.external_id: (row.service, row.severity, row.status, row.opened_at, row.resolved_at)
            for row in session.scalars(select(Incident))
        }


def test_alerts_are_paged_newest_first_and_mapped_to_services(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    serve_alerts(httpserver, "alerts_page_1.json")

    [result] = run_streams(os_runner(make_runner, os_settings(make_settings, httpserver, "alerts")))

    assert result.status == "success", result.error
    assert alerts(sessions) == {
        # By monitor id through service_map; the 2025 alert is older than the window.
        "eQURa3gBKo1jAh6qUo49": ("payments", "sev1", "open", at(0), None),
        # "Queue depth": the catalog's `queue` named as a word of the monitor's name.
        "fRVSb4hCLp2kBi7rVp50": (
            "queue",
            "sev3",
            "resolved",
            NOW.replace(hour=9),
            NOW.replace(hour=9, minute=45),
        ),
    }
    assert cursor_of(sessions, "alerts") == {
        "since": "2026-01-05T15:58:00+00:00",
        "open": {"eQURa3gBKo1jAh6qUo49": "2026-01-05T15:00:00+00:00"},
    }


def test_an_alert_completing_between_two_collections_is_resolved(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    settings = os_settings(make_settings, httpserver, "alerts")
    serve_alerts(httpserver, "alerts_page_1.json")
    run_streams(os_runner(make_runner, settings))
    httpserver.clear()
    serve_alerts(httpserver, "alerts_page_1_completed.json")

    later = NOW + timedelta(hours=2)
    [result] = run_streams(os_runner(make_runner, settings, now=later))

    assert result.status == "success", result.error
    completed = alerts(sessions)["eQURa3gBKo1jAh6qUo49"]
    assert completed[2:] == ("resolved", at(0), datetime(2026, 1, 5, 16, 20, tzinfo=UTC))
    assert cursor_of(sessions, "alerts")["open"] == {}  # type: ignore[index]


PIT_ID = "46ToAwMDaWR5BXV1aWQyKwZub2RlXzMAAAAAAAAAACoBYwADaWR4"
DEPLOY_QUERY = 'event.action:"deployment-finished"'


def deployments(sessions: sessionmaker[Session]) -> list[tuple[Any, ...]]:
    with sessions() as session:
        rows = session.scalars(select(Deployment).order_by(Deployment.external_id)).all()
        return [(r.external_id, r.service, r.environment, r.version, r.finished_at) for r in rows]


def test_deploy_markers_are_scanned_through_a_point_in_time_with_search_after(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    httpserver.expect_request(
        "/logs-*/_search/point_in_time", method="POST", query_string="keep_alive=2m"
    ).respond_with_json(payload("pit_create.json"))
    pages = iter(["deploys_page_1.json", "deploys_page_2.json"])
    bodies: list[Any] = []

    def search(request: Request) -> Response:
        bodies.append(json.loads(request.data))
        return Response((FIX / next(pages)).read_text(), content_type="application/json")

    httpserver.expect_request("/_search", method="POST").respond_with_handler(search)
    httpserver.expect_request("/_search/point_in_time", method="DELETE").respond_with_json(
        {"pits": [{"pit_id": PIT_ID, "successful": True}]}
    )
    settings = os_settings(make_settings, httpserver, "deploy_markers", deploy_query=DEPLOY_QUERY)

    [result] = run_streams(os_runner(make_runner, settings))

    assert result.status == "success", result.error
    assert deployments(sessions) == [
        # "Production" in the log takes the catalog's spelling.
        ("logs-2026.01.05/d1", "payments", "production", "1.4.2", NOW.replace(hour=10)),
        ("logs-2026.01.05/d2", "search", "staging", "2.0.0", NOW.replace(hour=11, minute=30)),
    ]
    assert result.problems == (
        "log d3: a deploy marker needs @timestamp, service.name, service.environment",
    )
    first, second = bodies
    assert first["pit"] == {"id": PIT_ID, "keep_alive": "2m"}
    assert first["sort"] == [{"@timestamp": {"order": "asc"}}, {"event.id": {"order": "asc"}}]
    assert first["query"]["bool"]["filter"][1] == {"query_string": {"query": DEPLOY_QUERY}}
    assert "search_after" not in first
    assert second["search_after"] == ["2026-01-05T11:30:00.000Z", "evt-0002"]
    deleted = [r for r, _ in httpserver.log if r.method == "DELETE"]
    assert [json.loads(r.data) for r in deleted] == [{"pit_id": [PIT_ID]}]
    assert cursor_of(sessions, "deploy_markers") == {"since": "2026-01-05T15:58:00+00:00"}


def test_a_cluster_without_point_in_time_is_scanned_with_search_after_alone(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
    sessions: sessionmaker[Session],
) -> None:
    httpserver.expect_request("/logs-*/_search/point_in_time").respond_with_json(
        {"error": "no handler found for uri", "status": 404}, status=404
    )
    pages = iter(["deploys_page_1.json", "deploys_page_2.json"])
    httpserver.expect_request(SEARCH, method="POST").respond_with_handler(
        lambda _request: Response((FIX / next(pages)).read_text(), content_type="application/json")
    )
    settings = os_settings(make_settings, httpserver, "deploy_markers", deploy_query=DEPLOY_QUERY)

    [result] = run_streams(os_runner(make_runner, settings))

    assert result.status == "success", result.error
    assert len(deployments(sessions)) == 2
    searches = [json.loads(r.data) for r, _ in httpserver.log if r.path == SEARCH]
    assert ["pit" in body for body in searches] == [False, False]
    assert searches[1]["search_after"] == ["2026-01-05T11:30:00.000Z", "evt-0002"]


def test_without_a_deploy_query_the_scan_reads_nothing(
    httpserver: HTTPServer,
    make_settings: Callable[..., Settings],
    make_runner: Callable[..., Runner],
) -> None:
    settings = os_settings(make_settings, httpserver, "deploy_markers")

    [result] = run_streams(os_runner(make_runner, settings))

    assert result.status == "success", result.error
    assert httpserver.log == []
