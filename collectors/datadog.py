"""Datadog collectors: incidents -> incidents; monitors, alert events and SLOs -> monitor_states.

The scope is a tag filter (`team:payments`) narrowing monitors, SLOs and events, or `*`
for everything. Incidents belong to the whole organisation and are read under the
connection's first scope only. Services come from `service:` tags (incidents: the
Services field), mapped through `service_map` and the catalog.

Cursor rules:

- `incidents` (`{"since": ISO, "open": {id: created ISO}}`): Datadog's incident search
  has no time filter, so it is read newest first (`-created`) until an incident created
  before `since - lookback` (first run: the backfill horizon). Test incidents
  (`is_test`) are left out. Incidents not resolved
  are re-fetched by id on every run until they resolve or pass `max_open_days`.
- `monitors`: a snapshot, stamped with the run's time, one point per monitor (and per
  service when a monitor names several); no cursor. States Datadog cannot vouch for
  (`No Data`, `Unknown`, `Skipped`, `Ignored`, a missing state) are stored as `no_data`.
- `monitor_events` (`{"since": ISO}`): monitor transitions from the v2 events search
  (`source:alert`), oldest first with cursor paging, over `[since - lookback, now -
  settle)`; each is a point at the event's time in the monitor's series (the same
  `monitor:<id>` series as the snapshots).
- `slos`: each SLO's history over its own timeframe, as a point at the run's time whose
  value is the SLI; no SLI, or a history with errors, is `no_data`, never `ok`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from collectors.batching import merged
from collectors.service_map import (
    UNKNOWN_SERVICE,
    catalog_environment,
    catalog_service,
    is_first_scope,
    tag_values,
)
from collectors.spec import Batch, CollectorSpec, Cursor, Scope, lagged, parse_time
from ingest.records import IncidentRecord, MonitorStateRecord
from integrations.datadog import DatadogClient

MONITOR_STATES = {"OK": "ok", "Warn": "warn", "Alert": "alert"}  # anything else: no_data
EVENT_STATES = {"error": "alert", "warn": "warn", "warning": "warn", "success": "ok", "ok": "ok"}
SLO_TIMEFRAMES = {"7d": timedelta(days=7), "30d": timedelta(days=30), "90d": timedelta(days=90)}
REPOLL_BATCH = 100
# Incident custom fields that carry link data, by the names teams commonly give them.
ENVIRONMENT_FIELDS = ("environment", "env", "environments")
VERSION_FIELDS = ("version", "release")
COMMIT_FIELDS = ("commit", "commit_sha", "git_commit", "sha")
DEPLOYMENT_FIELDS = ("deployment", "deployment_id")


def _time(value: Any) -> datetime | None:
    # The client hands back datetimes for some models and ISO strings for others.
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return parse_time(str(value))


def _tag_filter(scope: Scope) -> str | None:
    return None if scope.name == "*" else scope.name


def _field(fields: dict[str, Any], names: tuple[str, ...]) -> str | None:
    """The first non-empty value among incident fields `names` (a list gives its first)."""
    for name in names:
        value = (fields.get(name) or {}).get("value")
        if isinstance(value, list):
            value = value[0] if value else None
        if value is not None and str(value).strip():
            return str(value).strip()
    return None


# ---- incidents -------------------------------------------------------------------------


def incident_record(item: dict[str, Any], scope: Scope) -> IncidentRecord:
    """Normalize one Datadog incident (`IncidentResponseData`).

    It opened when detected, else when declared, else when created; severity is the
    incident's (`SEV-2`); the first of its Services is its service. Custom fields named
    environment, version, commit or deployment fill the link hints.

    Raises:
        KeyError: `id` or `attributes` is missing.
        ValidationError: The normalized record is invalid.
    """
    attributes = item["attributes"]
    fields = attributes.get("fields") or {}
    service = catalog_service(scope, _field(fields, ("services",))) or UNKNOWN_SERVICE
    opened = (
        _time(attributes.get("detected"))
        or _time(attributes.get("declared"))
        or _time(attributes.get("created"))
    )
    resolved = _time(attributes.get("resolved"))
    state = str(attributes.get("state") or _field(fields, ("state",)) or "").lower()
    severity = attributes.get("severity") or _field(fields, ("severity",))
    sha = _field(fields, COMMIT_FIELDS)
    return IncidentRecord.model_validate(
        {
            "type": "incident",
            "source": scope.connection,
            "id": str(item["id"]),
            "service": service,
            "environment": catalog_environment(scope, service, _field(fields, ENVIRONMENT_FIELDS)),
            "severity": None if severity in (None, "UNKNOWN") else str(severity),
            "title": attributes.get("title"),
            "opened_at": opened,
            "resolved_at": resolved,
            "status": "resolved" if resolved is not None or state == "resolved" else "open",
            "deployment_id": _field(fields, DEPLOYMENT_FIELDS),
            "root_cause_sha": sha,
            "version": _field(fields, VERSION_FIELDS),
            "updated_at": _time(attributes.get("modified")),
        }
    )


def collect_incidents(
    client: DatadogClient, scope: Scope, cursor: Cursor | None
) -> Iterator[Batch]:
    """Yield the organisation's incidents (see the module's cursor rules)."""
    if not is_first_scope(scope):
        return
    cursor = cursor or {}
    start = scope.start(parse_time(cursor.get("since")))
    end = scope.settled
    previous_open: dict[str, str] = dict(cursor.get("open") or {})
    still_open: dict[str, str] = {}
    seen: set[str] = set()

    def normalize(
        items: list[dict[str, Any]], origin: str, cutoff: datetime | None
    ) -> tuple[Batch, bool]:
        """The page's records, and whether it reached incidents created before `cutoff`."""
        records: list[IncidentRecord] = []
        problems: list[str] = []
        older = False
        for item in items:
            created = _time((item.get("attributes") or {}).get("created"))
            if cutoff is not None and created is not None and created < cutoff:
                older = True
                continue
            if (item.get("attributes") or {}).get("is_test"):
                continue  # a drill: counting it would distort time to restore
            try:
                record = incident_record(item, scope)
            except ValidationError as exc:
                problems.append(f"{origin}: incident {item.get('id')}: {exc.errors()[0]['msg']}")
                continue
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                problems.append(f"{origin}: incident {item.get('id')}: malformed ({exc!r})")
                continue
            records.append(record)
            seen.add(record.id)
            if record.status == "open" and record.opened_at >= scope.open_horizon:
                still_open[record.id] = record.opened_at.isoformat()
        return Batch(records, problems=problems), older

    def pages() -> Iterator[Batch]:
        for page in client.incidents():
            batch, older = normalize(page.items, "incident search", start)
            yield replace(batch, problems=[*page.skipped, *batch.problems])
            if older:
                break
        pending: list[dict[str, Any]] = []
        for incident_id in previous_open:
            if incident_id in seen:
                continue
            item = client.incident(incident_id)
            if item is not None:
                pending.append(item)
            if len(pending) >= REPOLL_BATCH:
                yield normalize(pending, "re-polled incidents", None)[0]
                pending = []
        if pending:
            yield normalize(pending, "re-polled incidents", None)[0]

    yield from merged(lagged(pages(), lambda: {"since": end.isoformat(), "open": still_open}))


# ---- monitors --------------------------------------------------------------------------


def _points(
    scope: Scope, key: str, tags: list[str] | None, **values: Any
) -> list[MonitorStateRecord]:
    """One point per service the tags name (one without a service when they name none)."""
    services = list(
        dict.fromkeys(catalog_service(scope, name) for name in tag_values(tags, "service"))
    )
    base = {"type": "monitor_state", "source": scope.connection} | values
    if len(services) <= 1:
        return [
            MonitorStateRecord.model_validate(
                base | {"monitor": key, "service": services[0] if services else None}
            )
        ]
    return [
        MonitorStateRecord.model_validate(
            base | {"monitor": f"{key}@{service}", "service": service}
        )
        for service in services
    ]


def monitor_records(monitor: dict[str, Any], scope: Scope) -> list[MonitorStateRecord]:
    """The snapshot points of one monitor (`Monitor`), stamped with the run's time."""
    state = MONITOR_STATES.get(str(monitor.get("overall_state")), "no_data")
    return _points(
        scope,
        f"monitor:{monitor['id']}",
        monitor.get("tags"),
        observed_at=scope.now,
        state=state,
        url=None,
    )


def collect_monitors(client: DatadogClient, scope: Scope, cursor: Cursor | None) -> Iterator[Batch]:
    """Yield a snapshot of the scope's monitors, a page at a time (no cursor)."""
    del cursor  # a snapshot: every run reads every monitor
    yield from merged(_monitor_pages(client, scope))


def _monitor_pages(client: DatadogClient, scope: Scope) -> Iterator[Batch]:
    for page in client.monitors(_tag_filter(scope)):
        records: list[MonitorStateRecord] = []
        problems = list(page.skipped)
        for monitor in page.items:
            try:
                records.extend(monitor_records(monitor, scope))
            except (KeyError, ValidationError) as exc:
                problems.append(f"monitor {monitor.get('id')}: malformed ({exc!r})")
        yield Batch(records, problems=problems)


# ---- monitor events --------------------------------------------------------------------


def event_records(event: dict[str, Any], scope: Scope) -> list[MonitorStateRecord]:
    """The transition point of one monitor alert event (`EventResponse`); [] if not one.

    The client's `MonitorType` model has no `transition` and drops it, so the new state
    comes from the event's status (`error` alert, `warn`/`warning` warn, `success`/`ok`
    recovered) and a `[No Data]` title; any other status is `no_data`.
    """
    attributes = event.get("attributes") or {}
    inner = attributes.get("attributes") or {}
    monitor_id = inner.get("monitor_id") or (inner.get("monitor") or {}).get("id")
    observed = _time(attributes.get("timestamp"))
    if monitor_id is None or observed is None:
        return []
    title = str(inner.get("title") or "")
    state = EVENT_STATES.get(str(inner.get("status")), "no_data")
    if title.startswith("[No Data]"):
        state = "no_data"
    return _points(
        scope, f"monitor:{monitor_id}", attributes.get("tags"), observed_at=observed, state=state
    )


def collect_monitor_events(
    client: DatadogClient, scope: Scope, cursor: Cursor | None
) -> Iterator[Batch]:
    """Yield monitor transitions from the events search (see the module's cursor rules)."""
    cursor = cursor or {}
    start = scope.start(parse_time(cursor.get("since")))
    end = scope.settled
    tags = _tag_filter(scope)
    query = "source:alert" + (f" {tags}" if tags else "")

    def pages() -> Iterator[Batch]:
        if start >= end:
            return
        for page in client.events(query, start, end):
            records: list[MonitorStateRecord] = []
            problems = list(page.skipped)
            for event in page.items:
                try:
                    records.extend(event_records(event, scope))
                except (ValidationError, ValueError) as exc:
                    problems.append(f"event {event.get('id')}: malformed ({exc!r})")
            yield Batch(records, problems=problems)

    yield from merged(lagged(pages(), lambda: {"since": max(start, end).isoformat()}))


# ---- SLOs ------------------------------------------------------------------------------


def slo_record(
    slo: dict[str, Any], history: dict[str, Any] | None, scope: Scope
) -> list[MonitorStateRecord]:
    """The points of one SLO: its SLI over its timeframe, against its target.

    Below the target is `alert`, below the warning level `warn`; no SLI, or a history
    that reports errors, is `no_data`.
    """
    thresholds = slo.get("thresholds") or []
    threshold = thresholds[0] if thresholds else {}
    data = (history or {}).get("data") or {}
    sli = (data.get("overall") or {}).get("sli_value")
    errors = (history or {}).get("errors")
    if sli is None or errors:
        state, value = "no_data", None
    else:
        value = float(sli)
        target = threshold.get("target")
        warning = threshold.get("warning")
        state = "ok"
        if target is not None and value < float(target):
            state = "alert"
        elif warning is not None and value < float(warning):
            state = "warn"
    return _points(
        scope, f"slo:{slo['id']}", slo.get("tags"), observed_at=scope.now, state=state, value=value
    )


def collect_slos(client: DatadogClient, scope: Scope, cursor: Cursor | None) -> Iterator[Batch]:
    """Yield the scope's SLOs, each with its current SLI (no cursor)."""
    del cursor  # a snapshot: every run reads every SLO's current window
    yield from merged(_slo_pages(client, scope))


def _slo_pages(client: DatadogClient, scope: Scope) -> Iterator[Batch]:
    for page in client.slos(_tag_filter(scope)):
        records: list[MonitorStateRecord] = []
        problems = list(page.skipped)
        for slo in page.items:
            try:
                thresholds = slo.get("thresholds") or [{}]
                span = SLO_TIMEFRAMES.get(str(thresholds[0].get("timeframe")), timedelta(days=7))
                history = client.slo_history(str(slo["id"]), scope.now - span, scope.now)
                records.extend(slo_record(slo, history, scope))
            except (KeyError, ValidationError, ValueError, TypeError) as exc:
                problems.append(f"SLO {slo.get('id')}: malformed ({exc!r})")
        yield Batch(records, problems=problems)


SPECS = (
    CollectorSpec(
        kind="datadog",
        stream="incidents",
        entity="incidents",
        description="Datadog incidents (newest first); unresolved ones re-polled by id.",
        collect=collect_incidents,
    ),
    CollectorSpec(
        kind="datadog",
        stream="monitors",
        entity="monitor_states",
        description="A snapshot of every Datadog monitor's state, per service.",
        collect=collect_monitors,
    ),
    CollectorSpec(
        kind="datadog",
        stream="monitor_events",
        entity="monitor_states",
        description="Datadog monitor transitions from the events search.",
        collect=collect_monitor_events,
    ),
    CollectorSpec(
        kind="datadog",
        stream="slos",
        entity="monitor_states",
        description="Each Datadog SLO's current SLI against its target.",
        collect=collect_slos,
    ),
)
