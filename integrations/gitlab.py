"""The GitLab REST v4 client (gitlab.com or self-managed `https://HOST/api/v4`).

Reads pipelines (list and detail, for the timings the list lacks), their test reports,
deployments and merged merge requests with their commits. Offset pagination follows
the `Link` header; rate limits follow GitLab's headers (`gitlab_rate_limit`).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx

from integrations.http import (
    HttpCache,
    Page,
    RetryPolicy,
    SourceClient,
    credential_fingerprint,
    retry_after_seconds,
)

DEFAULT_BASE_URL = "https://gitlab.com/api/v4"


def gitlab_rate_limit(response: httpx.Response, now: float) -> float | None:
    """GitLab's rules: `Retry-After`, `RateLimit-Reset` (epoch) or `RateLimit-ResetTime`.

    `RateLimit-ResetTime` is an HTTP date. GitLab sometimes sends none of them on a 429,
    and a 403 is never a rate limit: both return None (backoff, or a configuration error).
    """
    if response.status_code == 403:
        return None
    waited = retry_after_seconds(response, now)
    if waited is not None:
        return waited
    reset = response.headers.get("ratelimit-reset")
    if reset and reset.isdigit():
        return max(0.0, int(reset) - now)
    reset_time = response.headers.get("ratelimit-resettime")
    if reset_time:
        try:
            return max(0.0, parsedate_to_datetime(reset_time).timestamp() - now)
        except (TypeError, ValueError):
            return None
    return None


class GitLabClient:
    """Typed reads of the GitLab REST API for one connection."""

    def __init__(self, http: SourceClient, page_size: int = 100) -> None:
        self.http = http
        self.page_size = page_size

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self.http.close()

    @staticmethod
    def _project(project: str) -> str:
        return f"/projects/{quote(project, safe='')}"

    def _updated(self, path: str, updated_after: str, **extra: str) -> Generator[Page]:
        params: dict[str, str | int] = {
            "updated_after": updated_after,
            "order_by": "updated_at",
            "sort": "asc",
            "per_page": self.page_size,
            **extra,
        }
        return self.http.paginate(path, params, conditional=True)

    def pipelines(self, project: str, updated_after: str) -> Generator[Page]:
        """Pages of pipelines updated after a time, oldest update first."""
        return self._updated(f"{self._project(project)}/pipelines", updated_after)

    def pipeline(self, project: str, pipeline_id: int) -> dict[str, Any] | None:
        """One pipeline's detail (started_at, finished_at, duration), or None if deleted."""
        url = f"{self._project(project)}/pipelines/{pipeline_id}"
        page = self.http.get(url, conditional=True, missing_ok=True)
        return None if page is None else dict(page.data)

    def test_report(self, project: str, pipeline_id: int) -> dict[str, Any] | None:
        """A pipeline's test report, or None when it has none."""
        url = f"{self._project(project)}/pipelines/{pipeline_id}/test_report"
        page = self.http.get(url, missing_ok=True)
        return None if page is None else dict(page.data)

    def deployments(self, project: str, updated_after: str) -> Generator[Page]:
        """Pages of deployments updated after a time (GitLab pairs the filter with the order)."""
        return self._updated(f"{self._project(project)}/deployments", updated_after)

    def merged_requests(self, project: str, updated_after: str) -> Generator[Page]:
        """Pages of merged merge requests updated after a time."""
        return self._updated(
            f"{self._project(project)}/merge_requests", updated_after, state="merged"
        )

    def merge_request_commits(self, project: str, iid: int) -> list[dict[str, Any]]:
        """The commits of a merge request."""
        url = f"{self._project(project)}/merge_requests/{iid}/commits"
        params: dict[str, str | int] = {"per_page": self.page_size}
        return [c for page in self.http.paginate(url, params) for c in page.data]


def gitlab_client(
    connection: str,
    *,
    token: str,
    base_url: str | None = None,
    page_size: int = 100,
    timeout_s: float = 30.0,
    cache: HttpCache | None = None,
    retry: RetryPolicy | None = None,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] | None = None,
) -> GitLabClient:
    """Build the client of one GitLab connection (see `SourceClient` for the arguments)."""
    http = SourceClient(
        connection=connection,
        system="GitLab",
        base_url=base_url or DEFAULT_BASE_URL,
        headers={"PRIVATE-TOKEN": token, "User-Agent": "flightdeck-collector"},
        rate_limit=gitlab_rate_limit,
        timeout_s=timeout_s,
        retry=retry,
        cache=cache,
        credential_fingerprint=credential_fingerprint(token),
        transport=transport,
        sleep=sleep,
    )
    return GitLabClient(http, page_size)
