"""The GitHub REST client (github.com and GitHub Enterprise Server's `/api/v3`).

Only the reads the collectors need: workflow runs and jobs, deployments and their
statuses, pull requests and their commits, and compare. Rate limits follow GitHub's rules
(`github_rate_limit`); list pages and by-id re-polls are conditional requests, since a
304 costs nothing against the primary limit.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
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

DEFAULT_BASE_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
# GitHub documents no wait for a secondary limit without headers: "at least one minute".
SECONDARY_LIMIT_WAIT_S = 60.0


def github_rate_limit(response: httpx.Response, now: float) -> float | None:
    """GitHub's rules: `retry-after`; else the epoch `x-ratelimit-reset` when none remain.

    A 429, or a 403 whose message says "secondary rate limit", without either header
    waits a minute. Any other 403 is not a rate limit (None): a permission problem.
    """
    waited = retry_after_seconds(response, now)
    if waited is not None:
        return waited
    reset = response.headers.get("x-ratelimit-reset")
    if response.headers.get("x-ratelimit-remaining") == "0" and reset and reset.isdigit():
        return max(0.0, int(reset) - now) + 1.0  # +1: the reset second itself still counts
    if response.status_code == 429 or (
        response.status_code == 403 and "secondary rate limit" in response.text.lower()
    ):
        return SECONDARY_LIMIT_WAIT_S
    return None


class GitHubClient:
    """Typed reads of the GitHub REST API for one connection.

    Args:
        http: The connection's HTTP client (base URL, token, policies).
        page_size: `per_page` of list requests (at most 100).
    """

    def __init__(self, http: SourceClient, page_size: int = 100) -> None:
        self.http = http
        self.page_size = page_size

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self.http.close()

    def workflow_runs(self, repo: str, created: str) -> Generator[Page]:
        """Pages of `GET /repos/{repo}/actions/runs?created=...` (newest first)."""
        params: dict[str, str | int] = {"created": created, "per_page": self.page_size}
        return self.http.paginate(f"/repos/{repo}/actions/runs", params, conditional=True)

    def workflow_run(self, repo: str, run_id: int) -> dict[str, Any] | None:
        """One run by id, or None when it was deleted."""
        page = self.http.get(
            f"/repos/{repo}/actions/runs/{run_id}", conditional=True, missing_ok=True
        )
        return None if page is None else dict(page.data)

    def run_jobs(self, repo: str, run_id: int) -> list[dict[str, Any]]:
        """Every job of every attempt of a run (`filter=all`)."""
        params: dict[str, str | int] = {"filter": "all", "per_page": self.page_size}
        url = f"/repos/{repo}/actions/runs/{run_id}/jobs"
        return [job for page in self.http.paginate(url, params) for job in page.data["jobs"]]

    def deployments(self, repo: str) -> Generator[Page]:
        """Pages of `GET /repos/{repo}/deployments` (newest first)."""
        params = {"per_page": self.page_size}
        return self.http.paginate(f"/repos/{repo}/deployments", params, conditional=True)

    def deployment(self, repo: str, deployment_id: int) -> dict[str, Any] | None:
        """One deployment by id, or None when it was deleted."""
        page = self.http.get(
            f"/repos/{repo}/deployments/{deployment_id}", conditional=True, missing_ok=True
        )
        return None if page is None else dict(page.data)

    def deployment_statuses(self, repo: str, deployment_id: int) -> list[dict[str, Any]]:
        """Every status of a deployment, newest first."""
        params = {"per_page": self.page_size}
        url = f"/repos/{repo}/deployments/{deployment_id}/statuses"
        return [s for page in self.http.paginate(url, params, conditional=True) for s in page.data]

    def closed_pulls(self, repo: str) -> Generator[Page]:
        """Pages of closed pull requests, most recently updated first."""
        params: dict[str, str | int] = {
            "state": "closed",
            "sort": "updated",
            "direction": "desc",
            "per_page": self.page_size,
        }
        return self.http.paginate(f"/repos/{repo}/pulls", params, conditional=True)

    def pull_commits(self, repo: str, number: int) -> list[dict[str, Any]]:
        """The commits of a pull request (GitHub lists at most 250)."""
        params = {"per_page": self.page_size}
        url = f"/repos/{repo}/pulls/{number}/commits"
        return [c for page in self.http.paginate(url, params) for c in page.data]

    def compare(self, repo: str, base: str, head: str) -> Generator[Page]:
        """Pages of `compare/{base}...{head}`; paging is what lifts the 250-commit cap."""
        params = {"per_page": self.page_size, "page": 1}
        url = f"/repos/{repo}/compare/{quote(base, safe='')}...{quote(head, safe='')}"
        return self.http.paginate(url, params)


def github_client(
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
    clock: Callable[[], float] | None = None,
) -> GitHubClient:
    """Build the client of one GitHub connection (see `SourceClient` for the arguments)."""
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": API_VERSION,
        "User-Agent": "flightdeck-collector",
    }
    http = SourceClient(
        connection=connection,
        system="GitHub",
        base_url=base_url or DEFAULT_BASE_URL,
        headers=headers,
        rate_limit=github_rate_limit,
        timeout_s=timeout_s,
        retry=retry,
        cache=cache,
        credential_fingerprint=credential_fingerprint(token),
        transport=transport,
        sleep=sleep,
        clock=clock,
    )
    return GitHubClient(http, page_size)
