"""The Datadog client: monitors, events, incidents and SLOs through `datadog-api-client`.

Wraps the official client so that collectors see plain dicts and Flightdeck's errors:

- the site (`datadoghq.eu`, ...) or a custom host (a proxy, a local fake) is configurable;
- the API and application keys are passed in, never read here, and never quoted;
- the incident operations, which the client ships as unstable, are switched on;
- 429 and 5xx are retried by the client's urllib3 retry, waiting as long as Datadog's
  `X-RateLimit-Reset` says (seconds until the limit resets, not an epoch), else with
  exponential backoff; a wait longer than `RetryPolicy.max_wait_s` fails the run at once
  so the worker is free, and the next scheduled run carries on;
- 401/403/404/400 become `SourceConfigError` naming the connection and the call, an
  unreadable or schema-invalid body `BadSourceResponse`, the rest `RetriableSourceError`;
  a single list item the models cannot read is left out and reported (`Items.skipped`).

Responses are type-checked by the client against its models, so a fixture that passes
here has Datadog's documented shape.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import urllib3
from datadog_api_client import ApiClient, Configuration
from datadog_api_client.exceptions import ApiException, NotFoundException, OpenApiException
from datadog_api_client.model_utils import UnparsedObject
from datadog_api_client.rest import ClientRetry
from datadog_api_client.v1.api.monitors_api import MonitorsApi
from datadog_api_client.v1.api.service_level_objectives_api import ServiceLevelObjectivesApi
from datadog_api_client.v2.api.events_api import EventsApi
from datadog_api_client.v2.api.incidents_api import IncidentsApi
from datadog_api_client.v2.model.events_list_request import EventsListRequest
from datadog_api_client.v2.model.events_query_filter import EventsQueryFilter
from datadog_api_client.v2.model.events_request_page import EventsRequestPage
from datadog_api_client.v2.model.events_sort import EventsSort
from datadog_api_client.v2.model.incident_search_sort_order import IncidentSearchSortOrder

from errors import BadSourceResponse, RetriableSourceError, SourceConfigError
from integrations.http import CONFIG_STATUSES, CONNECT_TIMEOUT_S, RetryPolicy

# Unprefixed: the client's setter raises KeyError for a prefixed name (`v2.get_incident`).
UNSTABLE_OPERATIONS = ("search_incidents", "get_incident", "list_incidents")
# The incident search sees every state; without a state facet it returns active ones only.
ALL_INCIDENTS = "state:(active OR stable OR resolved)"


class _Retry(ClientRetry):
    """The client's retry (429/5xx, `X-RateLimit-Reset` in seconds) with a cap and a clock.

    urllib3 copies a retry through `new()` after every attempt, so the extra attributes
    are carried over there.
    """

    max_wait_s: float = 900.0
    sleeper: Callable[[float], None] = time.sleep
    connection: str = ""

    def new(self, **kw: Any) -> _Retry:
        retry: _Retry = super().new(**kw)
        retry.max_wait_s, retry.sleeper, retry.connection = (
            self.max_wait_s,
            self.sleeper,
            self.connection,
        )
        return retry

    def sleep(self, response: Any = None) -> None:
        wait = ClientRetry.get_retry_after(self, response) if response is not None else None
        if wait is None:
            wait = self.get_backoff_time()
        if wait > self.max_wait_s:
            msg = (
                f"Datadog connection {self.connection!r}: rate limited for {wait:.0f} s more; "
                "the next scheduled run will continue"
            )
            raise RetriableSourceError(msg)
        if wait > 0:
            self.sleeper(wait)


@dataclass(frozen=True)
class Items:
    """One page of a list, as dicts, less the items the client's models could not read.

    The client turns an item of the wrong shape into an `UnparsedObject` instead of
    failing the page; such items are left out here and described in `skipped`, so one
    odd monitor never hides the others.

    Attributes:
        items: The readable items.
        skipped: One line per item left out.
    """

    items: list[dict[str, Any]]
    skipped: list[str] = field(default_factory=list)


def _items(what: str, models: Iterable[Any]) -> Items:
    items: list[dict[str, Any]] = []
    skipped: list[str] = []
    for position, model in enumerate(models):
        if isinstance(model, UnparsedObject) or getattr(model, "_unparsed", False):
            skipped.append(f"{what}: item {position} does not have the documented shape")
        else:
            items.append(model.to_dict())
    return Items(items, skipped)


class DatadogClient:
    """Reads of one Datadog organisation, as plain dicts (see the module docstring).

    Args:
        api: The configured `ApiClient`.
        connection: The connection's name, quoted in errors.
        page_size: Items per requested page.
    """

    def __init__(self, api: ApiClient, connection: str, page_size: int = 100) -> None:
        self.api = api
        self.connection = connection
        self.page_size = page_size
        self._monitors = MonitorsApi(api)
        self._slos = ServiceLevelObjectivesApi(api)
        self._events = EventsApi(api)
        self._incidents = IncidentsApi(api)

    def close(self) -> None:
        """Close the connection pool."""
        self.api.close()

    @contextmanager
    def _call(self, what: str) -> Iterator[None]:
        where = f"Datadog connection {self.connection!r}, {what}"
        try:
            with warnings.catch_warnings():
                # The client warns on every unstable call; Flightdeck enables them on purpose.
                warnings.filterwarnings("ignore", "Using unstable operation", UserWarning)
                yield
        except ApiException as exc:
            status = int(exc.status or 0)
            if status in CONFIG_STATUSES:
                msg = (
                    f"{where}: {status} {exc.reason}, {CONFIG_STATUSES[status]}; check the "
                    "connection's site or base_url and its API and application keys (scopes)"
                )
                raise SourceConfigError(msg) from None
            msg = f"{where}: {status} {exc.reason} after the retries"
            raise RetriableSourceError(msg) from None
        except (OpenApiException, TypeError, ValueError, KeyError) as exc:
            # The body is not JSON, or not the shape the client's models describe (a
            # missing required property surfaces as the model constructor's TypeError).
            msg = f"{where}: the response does not have the documented shape ({exc})"
            raise BadSourceResponse(msg) from None
        except urllib3.exceptions.HTTPError as exc:
            msg = f"{where}: could not connect ({type(exc).__name__})"
            raise RetriableSourceError(msg) from None

    def monitors(self, monitor_tags: str | None) -> Generator[Items]:
        """Pages of `GET /api/v1/monitor` (0-based `page`), optionally filtered by tags."""
        page = 0
        while True:
            with self._call(f"GET /api/v1/monitor?page={page}"):
                kwargs: dict[str, Any] = {"page": page, "page_size": self.page_size}
                if monitor_tags:
                    kwargs["monitor_tags"] = monitor_tags
                monitors = self._monitors.list_monitors(**kwargs)
            yield _items(f"GET /api/v1/monitor?page={page}", monitors)
            if len(monitors) < self.page_size:
                return
            page += 1

    def events(
        self, query: str, since: datetime, until: datetime, cursor: str | None = None
    ) -> Generator[Items]:
        """Pages of `POST /api/v2/events/search`, oldest first (`meta.page.after` paging).

        Args:
            query: Events query (`source:alert service:payments`).
            since: Start of the time range (inclusive).
            until: End of the time range.
            cursor: Resume from this page cursor.
        """
        while True:
            page = EventsRequestPage(limit=self.page_size)
            if cursor:
                page.cursor = cursor
            body = EventsListRequest(
                filter=EventsQueryFilter(
                    query=query, _from=since.isoformat(), to=until.isoformat()
                ),
                sort=EventsSort.TIMESTAMP_ASCENDING,
                page=page,
            )
            with self._call("POST /api/v2/events/search"):
                response = self._events.search_events(body=body)
            events = list(response.get("data") or [])
            meta = response.get("meta")
            after = meta.get("page").get("after") if meta and meta.get("page") else None
            yield _items("POST /api/v2/events/search", events)
            if not events or not after:
                return
            cursor = after

    def incidents(self) -> Generator[Items]:
        """Pages of the incident search, newest first (`sort=-created`), in every state."""
        offset = 0
        while True:
            with self._call(f"GET /api/v2/incidents/search?page[offset]={offset}"):
                response = self._incidents.search_incidents(
                    ALL_INCIDENTS,
                    sort=IncidentSearchSortOrder.CREATED_DESCENDING,
                    page_size=self.page_size,
                    page_offset=offset,
                )
                found = list(response.data.attributes.get("incidents") or [])
            what = f"GET /api/v2/incidents/search?page[offset]={offset}"
            yield _items(what, (e if isinstance(e, UnparsedObject) else e.data for e in found))
            if len(found) < self.page_size:
                return
            offset += len(found)

    def incident(self, incident_id: str) -> dict[str, Any] | None:
        """One incident by id, or None when it was deleted."""
        try:
            with self._call(f"GET /api/v2/incidents/{incident_id}"):
                return dict(self._incidents.get_incident(incident_id).to_dict()["data"])
        except SourceConfigError as exc:
            if isinstance(exc.__context__, NotFoundException):
                return None
            raise

    def slos(self, tags_query: str | None) -> Generator[Items]:
        """Pages of `GET /api/v1/slo` (`limit`/`offset`), optionally filtered by tags."""
        offset = 0
        while True:
            with self._call(f"GET /api/v1/slo?offset={offset}"):
                kwargs: dict[str, Any] = {"limit": self.page_size, "offset": offset}
                if tags_query:
                    kwargs["tags_query"] = tags_query
                slos = list(self._slos.list_slos(**kwargs).get("data") or [])
            yield _items(f"GET /api/v1/slo?offset={offset}", slos)
            if len(slos) < self.page_size:
                return
            offset += len(slos)

    def slo_history(self, slo_id: str, since: datetime, until: datetime) -> dict[str, Any]:
        """`GET /api/v1/slo/{id}/history` over `[since, until]` (epoch seconds)."""
        with self._call(f"GET /api/v1/slo/{slo_id}/history"):
            response = self._slos.get_slo_history(
                slo_id, int(since.timestamp()), int(until.timestamp())
            )
            return dict(response.to_dict())


def datadog_client(
    connection: str,
    *,
    api_key: str,
    app_key: str,
    host: str | None = None,
    site: str | None = None,
    page_size: int = 100,
    timeout_s: float = 30.0,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], None] | None = None,
) -> DatadogClient:
    """Build the client of one Datadog connection.

    Args:
        connection: The connection's name.
        api_key: The API key.
        app_key: The application key (scoped: monitors_read, slos_read, events and
            incidents read).
        host: A custom base URL (a proxy or a local fake); wins over `site`.
        site: The Datadog site, e.g. `datadoghq.eu`; unset: `datadoghq.com`.
        page_size: Items per requested page.
        timeout_s: Read timeout; connecting gets `CONNECT_TIMEOUT_S`.
        retry: Attempts, backoff base and longest acceptable wait.
        sleep: How to wait between attempts (default `time.sleep`).
    """
    policy = retry or RetryPolicy()
    # The client also reads DD_API_KEY, DD_APP_KEY and DD_SITE from the environment;
    # everything is set here so that only the connection's settings count.
    config = Configuration(host=host.rstrip("/") if host else None)
    if host is None:
        config.server_variables["site"] = site or "datadoghq.com"
    config.api_key["apiKeyAuth"] = api_key
    config.api_key["appKeyAuth"] = app_key
    config.request_timeout = (CONNECT_TIMEOUT_S, timeout_s)
    retrying = _Retry(
        total=max(policy.attempts - 1, 0),
        backoff_factor=policy.backoff_s,
        backoff_max=policy.max_backoff_s,
        raise_on_status=False,
    )
    retrying.max_wait_s = policy.max_wait_s
    retrying.sleeper = sleep or time.sleep
    retrying.connection = connection
    config.retry_policy = retrying
    for operation in UNSTABLE_OPERATIONS:
        config.unstable_operations[operation] = True
    return DatadogClient(ApiClient(config), connection, page_size)
