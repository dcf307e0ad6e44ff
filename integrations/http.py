"""The HTTP base every source client uses: timeouts, retries, rate limits, ETags, pagination.

One `SourceClient` per connection wraps an `httpx.Client` with:

- explicit timeouts (connect 5 s, read as configured);
- retries with full-jitter exponential backoff on 429, 5xx, timeouts and connection
  errors, waiting instead for as long as the system's own rate-limit headers say
  (`RateLimitPolicy`, one per system), and giving up with `RetriableSourceError` when
  the attempts run out or the wait would exceed `max_wait`;
- no retry on 401/403/404/422: those raise `SourceConfigError` naming the connection and
  the request, since retrying a bad token or a missing repository only burns the budget;
- conditional requests: with an `HttpCache`, a GET sends `If-None-Match` /
  `If-Modified-Since` and a 304 replays the cached body (GitHub does not count a 304
  against its rate limit);
- pagination by the server's `Link: <...>; rel="next"` header, followed verbatim.

Credentials travel only in headers; messages quote the method and URL, never a header.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_random_exponential

from errors import BadSourceResponse, RetriableSourceError, SourceConfigError

CONNECT_TIMEOUT_S = 5.0
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
CONFIG_STATUSES = {
    400: "the request was refused as malformed",
    401: "the credential was rejected",
    403: "the credential lacks permission",
    404: "it does not exist or the credential cannot see it",
    410: "it is gone",
    422: "the request was refused as invalid",
}


class RateLimitPolicy(Protocol):
    """How one system says "wait": maps a refused response to seconds to wait, or None.

    Returning None for a 403 means "not a rate limit" (a configuration error); for a 429
    or 5xx it means "no hint, use exponential backoff".
    """

    def __call__(self, response: httpx.Response, now: float) -> float | None:
        """Return the seconds to wait before retrying `response`'s request, if known."""
        ...


def retry_after_seconds(response: httpx.Response, now: float) -> float | None:
    """Read `Retry-After`, in delta seconds or as an HTTP date (RFC 9110)."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None


def no_rate_limit_headers(response: httpx.Response, now: float) -> float | None:
    """Policy of systems without rate-limit headers (Jenkins): honour only `Retry-After`."""
    return retry_after_seconds(response, now)


@dataclass(frozen=True)
class CachedResponse:
    """What a conditional GET needs to replay a 304: validators, body and next page."""

    etag: str | None
    last_modified: str | None
    body: str
    next_url: str | None


class HttpCache(Protocol):
    """Storage of cached responses, keyed by an opaque string (see `SourceClient.cache_key`)."""

    def get(self, key: str) -> CachedResponse | None:
        """Return the cached response under `key`, if any."""
        ...

    def put(self, key: str, url: str, response: CachedResponse) -> None:
        """Remember `response` for `url` under `key`."""
        ...


@dataclass(frozen=True)
class Page:
    """One decoded response.

    Attributes:
        url: The full URL requested.
        data: The decoded JSON body.
        next_url: The `rel="next"` link, if the server gave one.
        not_modified: True when the body was replayed from the cache after a 304.
        headers: The response headers.
    """

    url: str
    data: Any
    next_url: str | None
    not_modified: bool
    headers: Mapping[str, str]


class _Retry(Exception):
    """A retriable answer; carries the wait the server asked for, if it said."""

    def __init__(self, message: str, wait: float | None) -> None:
        super().__init__(message)
        self.wait = wait


@dataclass
class RetryPolicy:
    """How hard to retry.

    Attributes:
        attempts: Requests in all, the first included.
        backoff_s: Base of the full-jitter exponential backoff (1, 2, 4, ... times this).
        max_backoff_s: Cap of one backoff wait.
        max_wait_s: Longest server-requested wait worth sitting out; longer ones fail the
            run so that the worker is free, and the next scheduled run tries again.
    """

    attempts: int = 5
    backoff_s: float = 1.0
    max_backoff_s: float = 300.0
    max_wait_s: float = 900.0


class SourceClient:
    """An HTTP client for one connection (see the module docstring).

    Args:
        connection: The connection's name, quoted in every error.
        system: The system's display name ("GitHub"), quoted in errors.
        base_url: Base URL; relative paths are joined to it.
        headers: Default headers (auth, Accept, API version).
        rate_limit: The system's rate-limit policy.
        timeout_s: Read/write/pool timeout; connecting gets `CONNECT_TIMEOUT_S`.
        retry: Retry policy.
        cache: Where conditional-request validators and bodies live; None disables them.
        credential_fingerprint: Distinguishes cache entries of different credentials.
        auth: httpx auth (e.g. Basic for Jenkins).
        transport: httpx transport override (None: the network).
        sleep: Called to wait between attempts (default `time.sleep`; tests record).
        clock: Epoch seconds now, for reset headers (default `time.time`).
    """

    def __init__(
        self,
        *,
        connection: str,
        system: str,
        base_url: str,
        headers: Mapping[str, str],
        rate_limit: RateLimitPolicy,
        timeout_s: float = 30.0,
        retry: RetryPolicy | None = None,
        cache: HttpCache | None = None,
        credential_fingerprint: str = "",
        auth: httpx.Auth | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.connection = connection
        self.system = system
        self.rate_limit = rate_limit
        self.retry = retry or RetryPolicy()
        self.cache = cache
        self.requests = 0
        self.not_modified = 0
        self._fingerprint = credential_fingerprint
        self._sleep = sleep or time.sleep
        self._clock = clock or time.time
        self._http = httpx.Client(
            base_url=base_url,
            headers=dict(headers),
            auth=auth,
            timeout=httpx.Timeout(timeout_s, connect=CONNECT_TIMEOUT_S),
            transport=transport,
            follow_redirects=True,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> SourceClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def cache_key(self, url: str) -> str:
        """The cache key of a full URL for this connection and credential."""
        raw = f"{self.connection}\0{self._fingerprint}\0{url}"
        return hashlib.sha256(raw.encode()).hexdigest()

    def get(
        self,
        url: str,
        params: Mapping[str, str | int] | None = None,
        *,
        conditional: bool = False,
        missing_ok: bool = False,
        decode: bool = True,
    ) -> Page | None:
        """GET a JSON resource, retrying per the policy.

        Args:
            url: A path relative to the base URL, or a full URL (a `next` link).
            params: Query parameters.
            conditional: Send the cached validators and replay the cached body on 304.
            missing_ok: Return None on 404 instead of raising (an item deleted since).
            decode: Decode the body as JSON; False leaves `Page.data` the body's text.

        Returns:
            The decoded page, or None when missing and `missing_ok`.

        Raises:
            SourceConfigError: 400/401/403/404/410/422 (403 without a rate-limit signal).
            RetriableSourceError: Still 429/5xx/timing out after the retries.
            BadSourceResponse: The body is not the JSON the source promises.
        """
        request = self._http.build_request("GET", url, params=params)
        full_url = str(request.url)
        cached = None
        if conditional and self.cache is not None:
            cached = self.cache.get(self.cache_key(full_url))
            if cached and cached.etag:
                request.headers["If-None-Match"] = cached.etag
            if cached and cached.last_modified:
                request.headers["If-Modified-Since"] = cached.last_modified
        response = self._send_with_retries(request)
        if response.status_code == 404 and missing_ok:
            return None
        if response.status_code == 304 and cached is not None:
            self.not_modified += 1
            body = _decode(self, full_url, cached.body) if decode else cached.body
            return Page(full_url, body, cached.next_url, True, {})
        if response.status_code in (204, 205):
            return Page(full_url, [], None, False, response.headers)
        if response.status_code != 200:
            raise self._unexpected(request, response)
        next_url = response.links.get("next", {}).get("url")
        text = response.text
        data = _decode(self, full_url, text) if decode else text
        if (
            conditional
            and self.cache is not None
            and (response.headers.get("etag") or response.headers.get("last-modified"))
        ):
            entry = CachedResponse(
                response.headers.get("etag"), response.headers.get("last-modified"), text, next_url
            )
            self.cache.put(self.cache_key(full_url), full_url, entry)
        return Page(full_url, data, next_url, False, response.headers)

    def paginate(
        self,
        url: str,
        params: Mapping[str, str | int] | None = None,
        *,
        conditional: bool = False,
    ) -> Generator[Page]:
        """Yield every page of a list, following `rel="next"` links until there are none."""
        page = self.get(url, params, conditional=conditional)
        while page is not None:
            yield page
            if page.next_url is None:
                return
            page = self.get(page.next_url, conditional=conditional)

    def _send_with_retries(self, request: httpx.Request) -> httpx.Response:
        policy = self.retry
        exponential = wait_random_exponential(multiplier=policy.backoff_s, max=policy.max_backoff_s)

        def wait(state: RetryCallState) -> float:
            outcome = state.outcome
            error = outcome.exception() if outcome else None
            if isinstance(error, _Retry) and error.wait is not None:
                return error.wait
            return float(exponential(state))

        retrying = Retrying(
            stop=stop_after_attempt(policy.attempts),
            wait=wait,
            retry=retry_if_exception_type(_Retry),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            return retrying(self._send_once, request)
        except _Retry as exc:
            msg = f"{self._where(request)}: {exc} (gave up after {policy.attempts} attempts)"
            raise RetriableSourceError(msg) from None

    def _send_once(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        try:
            response = self._http.send(request)
        except httpx.TimeoutException as exc:
            msg = f"timed out ({type(exc).__name__})"
            raise _Retry(msg, None) from None
        except httpx.TransportError as exc:
            msg = f"could not connect ({exc})"
            raise _Retry(msg, None) from None
        status = response.status_code
        if status in RETRY_STATUSES or status == 403:
            response.read()
            wait = self.rate_limit(response, self._clock())
            if status == 403 and wait is None:
                return response  # a permission problem, reported by the caller
            if wait is not None and wait > self.retry.max_wait_s:
                until = datetime.fromtimestamp(self._clock() + wait, UTC)
                msg = (
                    f"{self._where(request)}: rate limited until {until:%Y-%m-%d %H:%M} UTC; "
                    "the next scheduled run will continue"
                )
                raise RetriableSourceError(msg)
            reason = "rate limited" if status in (403, 429) else f"server error {status}"
            msg = f"{reason} ({status} {response.reason_phrase})"
            raise _Retry(msg, wait)
        return response

    def _where(self, request: httpx.Request) -> str:
        return f"{self.system} connection {self.connection!r}, {request.method} {request.url}"

    def _unexpected(self, request: httpx.Request, response: httpx.Response) -> Exception:
        status = response.status_code
        where = self._where(request)
        if status in CONFIG_STATUSES:
            msg = (
                f"{where}: {status} {response.reason_phrase}, {CONFIG_STATUSES[status]}; "
                "check the connection's base_url, scopes and token"
            )
            return SourceConfigError(msg)
        msg = f"{where}: unexpected {status} {response.reason_phrase}"
        return BadSourceResponse(msg)


def _decode(client: SourceClient, url: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        msg = (
            f"{client.system} connection {client.connection!r}, GET {url}: the response is not "
            f"valid JSON ({exc.msg} at character {exc.pos}; truncated?)"
        )
        raise BadSourceResponse(msg) from None


def credential_fingerprint(secret: str) -> str:
    """A short, non-reversible tag of a credential, to key caches per credential."""
    return hashlib.sha256(secret.encode()).hexdigest()[:16]
