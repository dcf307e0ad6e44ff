"""PagerDuty collector: incidents (REST v2) -> incidents, services mapped to the catalog.

The scope is `*` (every service) or one PagerDuty service id.

Cursor rules (`{"since": ISO, "open": {incident id: created ISO}}`):

- A run lists incidents created in `[since - lookback, now - settle)` (the first run:
  from the backfill horizon), oldest first, in windows of at most 30 days (PagerDuty
  refuses ranges over six months); a window holding more incidents than PagerDuty pages
  through (offset 10,000) is halved until it fits.
- Incidents not yet resolved are remembered in the cursor and fetched by id on every run
  until they resolve, or until they are older than `max_open_days`, because PagerDuty
  lists by creation time and a resolution never brings an incident back into a window.
- `since` becomes the end of the last window, and travels with the last page's rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from collectors.batching import merged
from collectors.service_map import UNKNOWN_SERVICE, catalog_service
from collectors.spec import Batch, CollectorSpec, Cursor, Scope, lagged, parse_time, required_time
from ingest.records import IncidentRecord
from integrations.pagerduty import OFFSET_CAP, PagerDutyClient

MAX_WINDOW = timedelta(days=30)
# Re-polls by id are written in batches of this many.
REPOLL_BATCH = 100


def incident_record(item: dict[str, Any], scope: Scope) -> IncidentRecord:
    """Normalize one PagerDuty incident.

    Severity is the priority's name (`P1`) when the account uses priorities, else the
    urgency (`high`, `low`). A resolved incident without `resolved_at` (older accounts)
    resolved at its last status change.

    Raises:
        KeyError: A required field (`id`, `created_at`, `status`) is missing.
        ValueError: A time is malformed.
        ValidationError: The normalized record is invalid.
    """
    service = item.get("service") or {}
    priority = item.get("priority") or {}
    resolved = item["status"] == "resolved"
    resolved_at = parse_time(item.get("resolved_at"))
    if resolved and resolved_at is None:
        resolved_at = parse_time(item.get("last_status_change_at"))
    name = catalog_service(scope, service.get("id"), service.get("summary"))
    return IncidentRecord.model_validate(
        {
            "type": "incident",
            "source": scope.connection,
            "id": str(item["id"]),
            "service": name or UNKNOWN_SERVICE,
            "severity": priority.get("summary") or item.get("urgency"),
            "title": item.get("title"),
            "opened_at": required_time(item, "created_at"),
            "resolved_at": resolved_at if resolved else None,
            "status": "resolved" if resolved else "open",
            "url": item.get("html_url"),
            "updated_at": parse_time(item.get("updated_at")),
        }
    )


def _windows(start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
    while start < end:
        stop = min(start + MAX_WINDOW, end)
        yield start, stop
        start = stop


def collect_incidents(
    client: PagerDutyClient, scope: Scope, cursor: Cursor | None
) -> Iterator[Batch]:
    """Yield the incidents of `scope` (see the module's cursor rules)."""
    cursor = cursor or {}
    start = scope.start(parse_time(cursor.get("since")))
    end = scope.settled
    service_id = None if scope.name == "*" else scope.name
    previous_open: dict[str, str] = dict(cursor.get("open") or {})
    still_open: dict[str, str] = {}
    seen: set[str] = set()

    def normalize(items: list[dict[str, Any]], origin: str) -> Batch:
        records: list[IncidentRecord] = []
        problems: list[str] = []
        for item in items:
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
        return Batch(records, problems=problems)

    def split(since: datetime, until: datetime) -> Iterator[tuple[datetime, datetime]]:
        # Halve a window until PagerDuty can page through all of it.
        if until - since > timedelta(seconds=1) and (
            client.count_incidents(since, until, service_id) > OFFSET_CAP - client.page_size
        ):
            middle = since + (until - since) / 2
            yield from split(since, middle)
            yield from split(middle, until)
        else:
            yield since, until

    def pages() -> Iterator[Batch]:
        for window in _windows(start, end):
            for since, until in split(*window):
                for url, items in client.incidents(since, until, service_id):
                    yield normalize(items, url)
        pending: list[dict[str, Any]] = []
        for incident_id in previous_open:
            if incident_id in seen:
                continue
            item = client.incident(incident_id)
            if item is not None:
                pending.append(item)
            if len(pending) >= REPOLL_BATCH:
                yield normalize(pending, f"incident {incident_id}")
                pending = []
        if pending:
            yield normalize(pending, "re-polled incidents")

    yield from merged(lagged(pages(), lambda: {"since": end.isoformat(), "open": still_open}))


SPECS = (
    CollectorSpec(
        kind="pagerduty",
        stream="incidents",
        entity="incidents",
        description="PagerDuty incidents by creation time; unresolved ones re-polled by id.",
        collect=collect_incidents,
    ),
)
