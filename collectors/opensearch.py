"""OpenSearch collectors: error rates, deploy markers and Alerting plugin alerts.

The scope is an index pattern (`logs-*`). Field names and the error filter are the
connection's settings, with ECS defaults (`service.name`, `service.version`, `log.level`,
`@timestamp`).

Cursor rules:

- `error_rates` (`{"since": ISO}`): one search per run, bucketing `[since - lookback,
  now - settle)`, both ends aligned down to whole buckets so that only complete buckets
  are stored, into `bucket_minutes` buckets per service (and per version, when
  `version_field` is set). The lookback recomputes recent buckets, since late logs
  change them. A bucket is a point of the series `<index>:<service>.error_rate` (per
  version: `...error_rate@<version>`, which the gate's `error_rate` check leaves out
  unless asked for) valued `errors / logs`. A bucket without logs, or
  with fewer than `min_samples`, or from a search that timed out or lost shards, is
  `no_data`: partial data must never read as `ok`.
- `deploy_markers` (`{"since": ISO}`; only with `deploy_query` set): logs matching it in
  `[since - lookback, now - settle)`, read through a point in time with `search_after`,
  sorted by time then `id_field`, become successful deployments of the log's service,
  environment and version at the log's time (id: index and document id, so the
  overlap of the next window writes nothing twice).
- `alerts` (`{"open": {alert id: start ISO}}`): Alerting plugin alerts, newest first,
  until one started before the window start, or before the oldest alert still open at
  the last run, so an open alert is read again until it completes. Alerts belong to the
  cluster, so they are read under the connection's first scope only.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from collectors.batching import merged
from collectors.service_map import (
    UNKNOWN_SERVICE,
    catalog_environment,
    catalog_service,
    is_first_scope,
    mapped_service,
)
from collectors.spec import Batch, CollectorSpec, Cursor, Scope, lagged, parse_time
from errors import BadSourceResponse
from ingest.records import DeploymentRecord, IncidentRecord, MonitorStateRecord
from integrations.opensearch import OpenSearchClient
from settings import SourceConfig

SERVICES_LIMIT = 1000
VERSIONS_LIMIT = 20
OPEN_ALERT_STATES = {"ACTIVE", "ACKNOWLEDGED", "ERROR"}
SERIES = "error_rate"


def _align(value: datetime, minutes: int) -> datetime:
    step = minutes * 60
    return datetime.fromtimestamp(int(value.timestamp()) // step * step, UTC)


def error_filter(config: SourceConfig) -> dict[str, Any]:
    """The query clause matching error logs: `error_query`, else a terms on the levels."""
    if config.error_query:
        return {"query_string": {"query": config.error_query}}
    return {"terms": {config.level_field: list(config.error_levels)}}


def error_rate_query(config: SourceConfig, start: datetime, end: datetime) -> dict[str, Any]:
    """The search body: per service (and version), a date histogram with an error filter.

    `track_total_hits` makes the total exact beyond 10,000, and `extended_bounds` with
    `min_doc_count: 0` returns empty buckets too, so a silent service shows as `no_data`
    instead of vanishing.
    """
    ts = config.timestamp_field
    histogram = {
        "date_histogram": {
            "field": ts,
            "fixed_interval": f"{config.bucket_minutes}m",
            "min_doc_count": 0,
            "extended_bounds": {
                "min": int(start.timestamp() * 1000),
                "max": int(end.timestamp() * 1000) - 1,
            },
        },
        "aggs": {"errors": {"filter": error_filter(config)}},
    }
    per_service: dict[str, Any] = {"buckets": histogram}
    if config.version_field:
        per_service["versions"] = {
            "terms": {"field": config.version_field, "size": VERSIONS_LIMIT},
            "aggs": {"buckets": histogram},
        }
    return {
        "size": 0,
        "track_total_hits": True,
        "query": {
            "bool": {"filter": [{"range": {ts: {"gte": start.isoformat(), "lt": end.isoformat()}}}]}
        },
        "aggs": {
            "services": {
                "terms": {"field": config.service_field, "size": SERVICES_LIMIT},
                "aggs": per_service,
            }
        },
    }


def _bucket_points(
    scope: Scope, monitor: str, service: str, buckets: list[dict[str, Any]], partial: bool
) -> list[MonitorStateRecord]:
    points = []
    for bucket in buckets:
        logs = int(bucket["doc_count"])
        errors = int(bucket["errors"]["doc_count"])
        value = errors / logs if logs else None
        enough = logs >= scope.config.min_samples and not partial
        points.append(
            MonitorStateRecord.model_validate(
                {
                    "type": "monitor_state",
                    "source": scope.connection,
                    "monitor": monitor,
                    "observed_at": datetime.fromtimestamp(int(bucket["key"]) / 1000, UTC),
                    "service": service,
                    "state": "ok" if enough else "no_data",
                    "value": None if partial else value,
                }
            )
        )
    return points


def error_rate_records(response: dict[str, Any], scope: Scope) -> list[MonitorStateRecord]:
    """The error-rate points of one aggregation response.

    Raises:
        BadSourceResponse: The aggregations are not the requested shape.
    """
    shards = response.get("_shards") or {}
    partial = bool(response.get("timed_out")) or int(shards.get("failed") or 0) > 0
    records: list[MonitorStateRecord] = []
    try:
        for entry in response["aggregations"]["services"]["buckets"]:
            service = catalog_service(scope, str(entry["key"])) or UNKNOWN_SERVICE
            series = f"{scope.name}:{service}.{SERIES}"
            records += _bucket_points(scope, series, service, entry["buckets"]["buckets"], partial)
            for version in (entry.get("versions") or {}).get("buckets") or ():
                monitor = f"{series}@{version['key']}"
                records += _bucket_points(
                    scope, monitor, service, version["buckets"]["buckets"], partial
                )
    except (KeyError, TypeError, ValueError) as exc:
        msg = f"OpenSearch connection {scope.connection!r}: the error-rate aggregation lacks {exc}"
        raise BadSourceResponse(msg) from None
    return records


def collect_error_rates(
    client: OpenSearchClient, scope: Scope, cursor: Cursor | None
) -> Iterator[Batch]:
    """Yield the scope's error-rate buckets (see the module's cursor rules)."""
    cursor = cursor or {}
    minutes = scope.config.bucket_minutes
    start = _align(scope.start(parse_time(cursor.get("since"))), minutes)
    end = _align(scope.settled, minutes)
    if start >= end:
        return
    # A search's buckets are bounded by the window, and each window by a day.
    step = timedelta(days=1)
    windows = []
    at = start
    while at < end:
        windows.append((at, min(at + step, end)))
        at += step

    def pages() -> Iterator[Batch]:
        for since, until in windows:
            response = client.search(scope.name, error_rate_query(scope.config, since, until))
            yield Batch(error_rate_records(response, scope))

    yield from lagged(pages(), lambda: {"since": end.isoformat()})


# ---- alerts ----------------------------------------------------------------------------


def _epoch_ms(value: Any) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(int(value) / 1000, UTC)


def _alert_service(scope: Scope, alert: dict[str, Any]) -> str:
    name = str(alert.get("monitor_name") or "")
    mapped = mapped_service(scope, alert.get("monitor_id"), name)
    if mapped:
        return mapped
    # "Payments error rate": a catalog service named as a word of the monitor's name.
    words = {word.lower() for word in name.replace("-", " ").replace("_", " ").split()}
    for service in scope.services:
        if service.lower() in words:
            return service
    return UNKNOWN_SERVICE


def alert_record(alert: dict[str, Any], scope: Scope) -> IncidentRecord:
    """Normalize one Alerting plugin alert; COMPLETED and DELETED alerts are resolved.

    Raises:
        KeyError: `id` or `start_time` is missing.
        ValidationError: The normalized record is invalid.
    """
    state = str(alert.get("state") or "").upper()
    resolved = state not in OPEN_ALERT_STATES
    ended = _epoch_ms(alert.get("end_time"))
    severity = alert.get("severity")
    touched = [
        t
        for t in (_epoch_ms(alert.get(k)) for k in ("last_notification_time", "end_time"))
        if t is not None
    ]
    return IncidentRecord.model_validate(
        {
            "type": "incident",
            "source": scope.connection,
            "id": str(alert["id"]),
            "service": _alert_service(scope, alert),
            "severity": f"sev{severity}" if severity is not None else None,
            "title": " / ".join(
                str(part) for part in (alert.get("monitor_name"), alert.get("trigger_name")) if part
            )
            or None,
            "opened_at": _epoch_ms(alert["start_time"]),
            "resolved_at": ended if resolved else None,
            "status": "resolved" if resolved else "open",
            "updated_at": max(touched) if touched else None,
        }
    )


def collect_alerts(
    client: OpenSearchClient, scope: Scope, cursor: Cursor | None
) -> Iterator[Batch]:
    """Yield the cluster's alerts (see the module's cursor rules)."""
    if not is_first_scope(scope):
        return
    cursor = cursor or {}
    previous_open = {key: parse_time(value) for key, value in (cursor.get("open") or {}).items()}
    oldest_open = min((t for t in previous_open.values() if t is not None), default=None)
    start = scope.start(parse_time(cursor.get("since")))
    stop_before = max(min(start, oldest_open or start), scope.open_horizon)
    still_open: dict[str, str] = {}
    page_size = scope.config.page_size

    def pages() -> Iterator[Batch]:
        offset = 0
        while True:
            params: dict[str, str | int] = {
                "alertState": "ALL",
                "sortString": "start_time",
                "sortOrder": "desc",
                "size": page_size,
                "startIndex": offset,
            }
            response = client.alerts(params)
            alerts = response.get("alerts")
            if not isinstance(alerts, list):
                msg = f"OpenSearch connection {scope.connection!r}: alerts response lacks `alerts`"
                raise BadSourceResponse(msg)
            records: list[IncidentRecord] = []
            problems: list[str] = []
            older = False
            for alert in alerts:
                try:
                    record = alert_record(alert, scope)
                except ValidationError as exc:
                    problems.append(f"alert {alert.get('id')}: {exc.errors()[0]['msg']}")
                    continue
                except (KeyError, TypeError, ValueError) as exc:
                    problems.append(f"alert {alert.get('id')}: malformed ({exc!r})")
                    continue
                if record.opened_at < stop_before:
                    older = True
                    break
                records.append(record)
                if record.status == "open":
                    still_open[record.id] = record.opened_at.isoformat()
            yield Batch(records, problems=problems)
            if older or len(alerts) < page_size:
                return
            offset += len(alerts)

    final = {"since": scope.settled.isoformat(), "open": still_open}
    yield from merged(lagged(pages(), lambda: final))


# ---- deploy markers -------------------------------------------------------------------


def _field(source: dict[str, Any], path: str) -> Any:
    """A dotted field of a `_source`, nested (`{"service": {"name": ..}}`) or flat."""
    if path in source:
        return source[path]
    value: Any = source
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def deploy_record(hit: dict[str, Any], scope: Scope) -> DeploymentRecord:
    """Normalize one deploy-marker log: a successful deployment at the log's time.

    Raises:
        ValueError: The log lacks a time, a service or an environment.
        ValidationError: The normalized record is invalid (no version, say).
    """
    config = scope.config
    source = hit.get("_source") or {}
    at = parse_time(_field(source, config.timestamp_field))
    raw_service = _field(source, config.service_field)
    raw_environment = _field(source, config.environment_field)
    if at is None or raw_service is None or raw_environment is None:
        fields = (config.timestamp_field, config.service_field, config.environment_field)
        msg = f"a deploy marker needs {', '.join(fields)}"
        raise ValueError(msg)
    service = catalog_service(scope, str(raw_service)) or str(raw_service)
    version = _field(source, config.version_field) if config.version_field else None
    return DeploymentRecord.model_validate(
        {
            "type": "deployment",
            "source": scope.connection,
            "id": f"{hit.get('_index')}/{hit['_id']}",
            "service": service,
            "environment": catalog_environment(scope, service, str(raw_environment)),
            "version": None if version is None else str(version),
            "status": "success",
            "status_raw": "deploy marker",
            "started_at": at,
            "finished_at": at,
            "updated_at": at,
        }
    )


def collect_deploy_markers(
    client: OpenSearchClient, scope: Scope, cursor: Cursor | None
) -> Iterator[Batch]:
    """Yield deployments from logs matching `deploy_query` (see the module's cursor rules)."""
    config = scope.config
    if config.deploy_query is None:
        return
    cursor = cursor or {}
    start = scope.start(parse_time(cursor.get("since")))
    end = scope.settled
    if start >= end:
        return
    ts = config.timestamp_field
    body = {
        "query": {
            "bool": {
                "filter": [
                    {"range": {ts: {"gte": start.isoformat(), "lt": end.isoformat()}}},
                    {"query_string": {"query": config.deploy_query}},
                ]
            }
        },
        "_source": [ts, config.service_field, config.environment_field]
        + ([config.version_field] if config.version_field else []),
    }
    sort = [{ts: {"order": "asc"}}, {config.id_field: {"order": "asc"}}]

    def pages() -> Iterator[Batch]:
        for hits in client.scan(scope.name, body, sort, config.page_size):
            records: list[DeploymentRecord] = []
            problems: list[str] = []
            for hit in hits:
                try:
                    records.append(deploy_record(hit, scope))
                except ValidationError as exc:
                    problems.append(f"log {hit.get('_id')}: {exc.errors()[0]['msg']}")
                except (KeyError, TypeError, ValueError) as exc:
                    problems.append(f"log {hit.get('_id')}: {exc}")
            yield Batch(records, problems=problems)

    yield from merged(lagged(pages(), lambda: {"since": end.isoformat()}))


SPECS = (
    CollectorSpec(
        kind="opensearch",
        stream="error_rates",
        entity="monitor_states",
        description="Error rate per service (and version) from the logs, per time bucket.",
        collect=collect_error_rates,
    ),
    CollectorSpec(
        kind="opensearch",
        stream="deploy_markers",
        entity="deployments",
        description="Deployments from deploy-marker logs (`deploy_query`), by PIT scan.",
        collect=collect_deploy_markers,
    ),
    CollectorSpec(
        kind="opensearch",
        stream="alerts",
        entity="incidents",
        description="Alerting plugin alerts; open ones read again until they complete.",
        collect=collect_alerts,
    ),
)
