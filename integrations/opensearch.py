"""The OpenSearch client: searches, point-in-time scans and Alerting plugin alerts.

Wraps `opensearch-py` so that collectors get dicts and Flightdeck's errors:

- hosts (one or more node URLs), Basic auth and TLS (verify, CA bundle) are configurable;
- the client retries 429 as well as 502/503/504 and timeouts (its default leaves out
  429, which OpenSearch sends when its search queue is full);
- `scan` pages through a query with a point in time and `search_after`, so pages stay
  consistent while indexing goes on, and deletes the point in time however it ends;
- 400/401/403/404 become `SourceConfigError` (a bad query, credential or index), a body
  that is not JSON `BadSourceResponse`, everything else `RetriableSourceError`;
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opensearchpy import OpenSearch
from opensearchpy.exceptions import (
    ConnectionError as OpenSearchConnectionError,
)
from opensearchpy.exceptions import (
    NotFoundError,
    OpenSearchException,
    RequestError,
    SerializationError,
    TransportError,
)

from errors import BadSourceResponse, RetriableSourceError, SourceConfigError
from integrations.http import CONFIG_STATUSES, RetryPolicy

RETRY_ON_STATUS = (429, 502, 503, 504)
PIT_KEEP_ALIVE = "2m"


class OpenSearchClient:
    """Reads of one OpenSearch cluster (see the module docstring).

    Args:
        client: The configured `opensearchpy.OpenSearch`.
        connection: The connection's name, quoted in errors.
    """

    def __init__(self, client: OpenSearch, connection: str) -> None:
        self.client = client
        self.connection = connection

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()

    @contextmanager
    def _call(self, what: str) -> Iterator[None]:
        where = f"OpenSearch connection {self.connection!r}, {what}"
        try:
            yield
        except SerializationError as exc:
            msg = f"{where}: the response is not valid JSON ({exc})"
            raise BadSourceResponse(msg) from None
        except OpenSearchConnectionError as exc:
            msg = f"{where}: could not connect or timed out ({exc.error})"
            raise RetriableSourceError(msg) from None
        except TransportError as exc:
            status = exc.status_code if isinstance(exc.status_code, int) else 0
            if status in CONFIG_STATUSES:
                msg = (
                    f"{where}: {status} {exc.error}, {CONFIG_STATUSES[status]}; check the "
                    "connection's hosts, username, token_env and index pattern (scope)"
                )
                raise SourceConfigError(msg) from None
            msg = f"{where}: {status} {exc.error} after the retries"
            raise RetriableSourceError(msg) from None
        except OpenSearchException as exc:
            msg = f"{where}: {type(exc).__name__}: {exc}"
            raise RetriableSourceError(msg) from None

    def search(self, index: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """`POST /{index}/_search` with `body`; the decoded response."""
        with self._call(f"POST /{index}/_search"):
            response = self.client.search(index=index, body=dict(body))
        return _object(response, self.connection, f"/{index}/_search")

    def scan(
        self,
        index: str,
        body: Mapping[str, Any],
        sort: Sequence[Mapping[str, Any]],
        page_size: int,
    ) -> Generator[list[dict[str, Any]]]:
        """Yield pages of hits of `body` in `sort` order, through a point in time.

        Clusters without point in time (before 2.4: the create call answers 400 or 404)
        are paged with `search_after` alone, which can repeat or miss documents indexed
        meanwhile; the settle delay keeps that rare and the next run's overlap re-reads.

        Args:
            index: Index pattern.
            body: The query (`query`, `_source`...), without size, sort or pit.
            sort: Sort clauses; the last must be a unique tie-breaker.
            page_size: Hits per page.

        Raises:
            BadSourceResponse: A page's hits came without their sort values.
        """
        pit_id = self._create_pit(index)
        after: list[Any] | None = None
        try:
            while True:
                request = dict(body) | {"size": page_size, "sort": list(sort)}
                if after is not None:
                    request["search_after"] = after
                if pit_id is None:
                    response = self.search(index, request)
                else:
                    # With a point in time the index is part of the pit, never of the path.
                    request["pit"] = {"id": pit_id, "keep_alive": PIT_KEEP_ALIVE}
                    with self._call(f"POST /_search (point in time over {index})"):
                        raw = self.client.search(body=request)
                    response = _object(raw, self.connection, "/_search")
                    pit_id = str(response.get("pit_id") or pit_id)
                hits = list((response.get("hits") or {}).get("hits") or [])
                if hits:
                    yield hits
                if len(hits) < page_size:
                    return
                after = hits[-1].get("sort")
                if not after:
                    msg = f"OpenSearch connection {self.connection!r}: hits came without `sort`"
                    raise BadSourceResponse(msg)
        finally:
            if pit_id is not None:
                self._delete_pit(pit_id)

    def _create_pit(self, index: str) -> str | None:
        with self._call(f"POST /{index}/_search/point_in_time"):
            try:
                response = self.client.create_pit(
                    index=index, params={"keep_alive": PIT_KEEP_ALIVE}
                )
            except (NotFoundError, RequestError):
                return None  # no point-in-time API: an older cluster (see `scan`)
        pit_id = response.get("pit_id") if isinstance(response, dict) else None
        return str(pit_id) if pit_id else None

    def _delete_pit(self, pit_id: str) -> None:
        try:
            self.client.delete_pit(body={"pit_id": [pit_id]})
        except OpenSearchException:
            # It expires by itself after `keep_alive`; a failed delete costs nothing more.
            return

    def alerts(self, params: Mapping[str, str | int]) -> dict[str, Any]:
        """`GET _plugins/_alerting/monitors/alerts` with the plugin's query parameters."""
        with self._call("GET /_plugins/_alerting/monitors/alerts"):
            response = self.client.plugins.alerting.get_alerts(params=dict(params))
        return _object(response, self.connection, "/_plugins/_alerting/monitors/alerts")


def _object(response: Any, connection: str, path: str) -> dict[str, Any]:
    if not isinstance(response, dict):
        msg = f"OpenSearch connection {connection!r}, {path}: the response is not a JSON object"
        raise BadSourceResponse(msg)
    return response


def opensearch_client(
    connection: str,
    *,
    hosts: Sequence[str],
    auth: tuple[str, str] | None = None,
    verify_certs: bool = True,
    ca_certs: str | None = None,
    timeout_s: float = 30.0,
    retry: RetryPolicy | None = None,
) -> OpenSearchClient:
    """Build the client of one OpenSearch connection.

    Args:
        connection: The connection's name.
        hosts: Node URLs (`https://search.example:9200`); TLS follows each scheme.
        auth: Basic-auth user and password, if the cluster wants them.
        verify_certs: Verify the nodes' certificates.
        ca_certs: CA bundle to verify them with.
        timeout_s: Request timeout.
        retry: `attempts` sets the client's `max_retries` (attempts less one).
    """
    policy = retry or RetryPolicy()
    client = OpenSearch(
        hosts=list(hosts),
        http_auth=auth,
        verify_certs=verify_certs,
        ca_certs=ca_certs,
        timeout=timeout_s,
        max_retries=max(policy.attempts - 1, 0),
        retry_on_status=RETRY_ON_STATUS,
        retry_on_timeout=True,
    )
    return OpenSearchClient(client, connection)
