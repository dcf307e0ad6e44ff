"""The one HTTP call helper the backends share: explicit timeouts, retries, clear errors.

5xx, 429 and network errors are retried with backoff; that is safe because every request
carries the action's idempotency key. Any other 4xx is the backend saying no, which no
retry changes, so it ends the call at once.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from errors import BackendRejected, BackendUnavailable

# Short enough that a captain is not left waiting behind the lock for long.
BACKOFF_SECONDS = 0.25
MAX_DETAIL = 200


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:MAX_DETAIL].strip()
    if isinstance(body, dict):
        for key in ("message", "error", "detail"):
            if isinstance(body.get(key), str):
                return str(body[key])[:MAX_DETAIL]
    return ""


def send(
    client: httpx.Client, method: str, url: str, *, name: str, retries: int, **kwargs: Any
) -> httpx.Response:
    """Send one request, retrying what may succeed later.

    Args:
        client: The client (base URL, headers, timeout).
        method: HTTP method.
        url: Path or URL.
        name: The backend's name for messages.
        retries: How many times to retry after the first attempt.
        **kwargs: Passed to `httpx.Client.request` (json, content, headers, params).

    Returns:
        The first response below 400.

    Raises:
        BackendRejected: A 4xx other than 429.
        BackendUnavailable: Still failing after the retries.
    """
    problem = ""
    for attempt in range(retries + 1):
        try:
            response = client.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            problem = f"{name} unreachable ({type(exc).__name__})"
        else:
            status = response.status_code
            if status < 400:
                return response
            detail = _detail(response)
            suffix = f": {detail}" if detail else ""
            if status < 500 and status != 429:
                msg = f"{name} refused the request (HTTP {status}){suffix}"
                raise BackendRejected(msg)
            problem = f"{name} answered HTTP {status}{suffix}"
        if attempt < retries:
            time.sleep(BACKOFF_SECONDS * 2**attempt)
    msg = f"{problem}, {retries + 1} attempts"
    raise BackendUnavailable(msg)
