"""The PagerDuty REST v2 client: incidents by creation window, and one incident by id.

Built on `SourceClient` (timeouts, retries, configuration errors on 401/403/404). Lists
use PagerDuty's classic offset paging (`limit`, `offset`, `more`); since PagerDuty refuses
offsets past 10,000, callers ask for `total` first and split windows that hold more.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from datetime import datetime
from typing import Any

import httpx

from errors import BadSourceResponse
from integrations.http import (
    RetryPolicy,
    SourceClient,
    credential_fingerprint,
    retry_after_seconds,
)

DEFAULT_BASE_URL = "https://api.pagerduty.com"
ACCEPT = "application/vnd.pagerduty+json;version=2"
# PagerDuty answers 400 once offset + limit passes this (classic pagination).
OFFSET_CAP = 10_000


def pagerduty_rate_limit(response: httpx.Response, now: float) -> float | None:
    """PagerDuty's rules: `Retry-After`, else `ratelimit-reset` (seconds until reset).

    Without either header a 429 gets exponential backoff (None). A 403 is never a rate
    limit on PagerDuty: it means the key lacks access.
    """
    if response.status_code == 403:
        return None
    waited = retry_after_seconds(response, now)
    if waited is not None:
        return waited
    reset = response.headers.get("ratelimit-reset")
    if reset is not None and reset.isdigit():
        return float(reset)
    return None


class PagerDutyClient:
    """Reads of PagerDuty's incidents for one connection.

    Args:
        http: The connection's HTTP client (base URL, API key, policies).
        page_size: `limit` of list requests (at most 100).
    """

    def __init__(self, http: SourceClient, page_size: int = 100) -> None:
        self.http = http
        self.page_size = page_size

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self.http.close()

    def count_incidents(self, since: datetime, until: datetime, service_id: str | None) -> int:
        """How many incidents were created in `[since, until)` (one request, `total=true`)."""
        params = self._window_params(since, until, service_id) | {"limit": 1, "total": "true"}
        page = self.http.get("/incidents", params)
        data = page.data if page is not None else None
        if not isinstance(data, dict) or not isinstance(data.get("total"), int):
            msg = f"PagerDuty connection {self.http.connection!r}: /incidents gave no `total`"
            raise BadSourceResponse(msg)
        return int(data["total"])

    def incidents(
        self, since: datetime, until: datetime, service_id: str | None
    ) -> Generator[tuple[str, list[dict[str, Any]]]]:
        """Yield `(url, incidents)` pages of incidents created in `[since, until)`, oldest first.

        Raises:
            BadSourceResponse: A page lacks `incidents` or `more`.
        """
        offset = 0
        while True:
            params = self._window_params(since, until, service_id)
            params |= {"limit": self.page_size, "offset": offset}
            page = self.http.get("/incidents", params)
            if page is None:
                return
            data = page.data
            if (
                not isinstance(data, dict)
                or not isinstance(data.get("incidents"), list)
                or not isinstance(data.get("more"), bool)
            ):
                msg = (
                    f"PagerDuty connection {self.http.connection!r}, GET {page.url}: the body "
                    "lacks `incidents` or `more`"
                )
                raise BadSourceResponse(msg)
            yield page.url, data["incidents"]
            if not data["more"] or not data["incidents"]:
                return
            offset += len(data["incidents"])

    def incident(self, incident_id: str) -> dict[str, Any] | None:
        """One incident by id, or None when it no longer exists."""
        page = self.http.get(f"/incidents/{incident_id}", missing_ok=True)
        if page is None:
            return None
        data = page.data
        if not isinstance(data, dict) or not isinstance(data.get("incident"), dict):
            msg = f"PagerDuty connection {self.http.connection!r}, GET {page.url}: no `incident`"
            raise BadSourceResponse(msg)
        return dict(data["incident"])

    @staticmethod
    def _window_params(
        since: datetime, until: datetime, service_id: str | None
    ) -> dict[str, str | int]:
        # PagerDuty filters since/until on creation time and renders times in `time_zone`.
        params: dict[str, str | int] = {
            "since": since.isoformat(),
            "until": until.isoformat(),
            "sort_by": "created_at:asc",
            "time_zone": "UTC",
        }
        if service_id is not None:
            params["service_ids[]"] = service_id
        return params


def pagerduty_client(
    connection: str,
    *,
    token: str,
    base_url: str | None = None,
    page_size: int = 100,
    timeout_s: float = 30.0,
    retry: RetryPolicy | None = None,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] | None = None,
) -> PagerDutyClient:
    """Build the client of one PagerDuty connection (REST API key in `token`)."""
    http = SourceClient(
        connection=connection,
        system="PagerDuty",
        base_url=(base_url or DEFAULT_BASE_URL).rstrip("/"),
        headers={"Authorization": f"Token token={token}", "Accept": ACCEPT},
        rate_limit=pagerduty_rate_limit,
        timeout_s=timeout_s,
        retry=retry,
        credential_fingerprint=credential_fingerprint(token),
        transport=transport,
        sleep=sleep,
    )
    return PagerDutyClient(http, page_size)
