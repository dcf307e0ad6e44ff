"""The Jenkins JSON API client (`.../api/json` with `tree=`), API-token auth.

Jenkins has no rate limiting, so only `Retry-After`, 5xx and connection errors are
retried. Build history is read with `allBuilds[...]{a,b}` ranges: plain `builds` lists
only the newest 100.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx

from integrations.http import (
    HttpCache,
    RetryPolicy,
    SourceClient,
    credential_fingerprint,
    no_rate_limit_headers,
)

BUILD_FIELDS = "number,result,building,timestamp,duration,url"
DETAIL_TREE = (
    "number,result,building,timestamp,duration,url,"
    "actions[_class,lastBuiltRevision[SHA1,branch[SHA1,name]],remoteUrls]"
)
REPORT_TREE = "suites[name,cases[className,name,duration,status,errorDetails]]"


def job_url(path: str) -> str:
    """`folder/job` -> `/job/folder/job/job/`, the URL of a (nested) job."""
    parts = [part for part in path.strip("/").split("/") if part]
    return "".join(f"/job/{quote(part, safe='')}" for part in parts) + "/"


class JenkinsClient:
    """Typed reads of one Jenkins controller."""

    def __init__(self, http: SourceClient, page_size: int = 50) -> None:
        self.http = http
        self.page_size = page_size

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self.http.close()

    def children(self, path: str) -> list[dict[str, Any]]:
        """The jobs inside a folder or multibranch project ([] for a buildable job)."""
        page = self.http.get(f"{job_url(path)}api/json", {"tree": "_class,jobs[name,_class]"})
        return list((page.data if page else {}).get("jobs") or [])

    def builds(self, path: str, start: int) -> list[dict[str, Any]]:
        """Builds `start` to `start + page_size` (exclusive) counting from the newest."""
        tree = f"allBuilds[{BUILD_FIELDS}]{{{start},{start + self.page_size}}}"
        page = self.http.get(f"{job_url(path)}api/json", {"tree": tree})
        return list((page.data if page else {}).get("allBuilds") or [])

    def build(self, path: str, number: int) -> dict[str, Any] | None:
        """One build's detail (revision actions), or None when it was deleted."""
        url = f"{job_url(path)}{number}/api/json"
        page = self.http.get(url, {"tree": DETAIL_TREE}, missing_ok=True)
        return None if page is None else dict(page.data)

    def test_report(self, path: str, number: int) -> dict[str, Any] | None:
        """A build's JUnit report, or None when it published none (Jenkins answers 404)."""
        url = f"{job_url(path)}{number}/testReport/api/json"
        page = self.http.get(url, {"tree": REPORT_TREE}, missing_ok=True)
        return None if page is None else dict(page.data)


def jenkins_client(
    connection: str,
    *,
    username: str,
    token: str,
    base_url: str,
    page_size: int = 50,
    timeout_s: float = 30.0,
    cache: HttpCache | None = None,
    retry: RetryPolicy | None = None,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] | None = None,
) -> JenkinsClient:
    """Build the client of one Jenkins controller (see `SourceClient` for the arguments)."""
    http = SourceClient(
        connection=connection,
        system="Jenkins",
        base_url=base_url,
        headers={"User-Agent": "flightdeck-collector"},
        auth=httpx.BasicAuth(username, token),
        rate_limit=no_rate_limit_headers,
        timeout_s=timeout_s,
        retry=retry,
        cache=cache,
        credential_fingerprint=credential_fingerprint(f"{username}:{token}"),
        transport=transport,
        sleep=sleep,
    )
    return JenkinsClient(http, page_size)
