"""The monitoring and incident sources for the registry: their streams and client factories.

`MONITORING_SPECS` lists the streams of `datadog`, `opensearch` and `pagerduty`, and
`MONITORING_CLIENTS` builds each kind's client from the runner's context. A factory
refuses to start without its credential, naming the variable to set, rather than letting
the source answer 401 with a vaguer message.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from collectors import datadog, opensearch, pagerduty
from collectors.spec import CollectorSpec
from errors import SourceConfigError
from integrations.datadog import datadog_client
from integrations.opensearch import opensearch_client
from integrations.pagerduty import pagerduty_client
from settings import SourceKind

if TYPE_CHECKING:  # the registry imports this module, so only type checkers import it back
    from collectors.registry import ClientContext


def _required(context: ClientContext, value: str | None, key: str, what: str) -> str:
    if value:
        return value
    name = getattr(context.config, key)
    if name is None:
        msg = f"connection {context.connection!r}: set `{key}` to the variable holding {what}"
    else:
        msg = f"connection {context.connection!r}: the environment variable {name} ({key}) is unset"
    raise SourceConfigError(msg)


def _pagerduty(context: ClientContext) -> Any:
    return pagerduty_client(
        context.connection,
        token=_required(context, context.secret, "token_env", "the REST API key"),
        base_url=context.config.base_url,
        page_size=context.config.page_size,
        timeout_s=context.config.timeout_seconds,
        retry=context.retry,
        transport=context.transport,
        sleep=context.sleep,
    )


def _datadog(context: ClientContext) -> Any:
    config = context.config
    # The runner hands over only `token_env`'s value; the application key is read here.
    app_key = os.environ.get(config.app_key_env) if config.app_key_env else None
    return datadog_client(
        context.connection,
        api_key=_required(context, context.secret, "token_env", "the API key"),
        app_key=_required(context, app_key, "app_key_env", "the application key"),
        host=config.base_url,
        site=config.site,
        page_size=config.page_size,
        timeout_s=config.timeout_seconds,
        retry=context.retry,
        sleep=context.sleep,
    )


def _opensearch(context: ClientContext) -> Any:
    config = context.config
    hosts = config.hosts or ([config.base_url] if config.base_url else [])
    if not hosts:
        msg = f"connection {context.connection!r}: set `hosts` (or `base_url`) to the node URLs"
        raise SourceConfigError(msg)
    if config.username is not None:
        password = _required(context, context.secret, "token_env", "the password")
        auth: tuple[str, str] | None = (config.username, password)
    else:
        auth = None
    return opensearch_client(
        context.connection,
        hosts=hosts,
        auth=auth,
        verify_certs=config.verify_certs,
        ca_certs=config.ca_certs,
        timeout_s=config.timeout_seconds,
        retry=context.retry,
    )


MONITORING_SPECS: tuple[CollectorSpec, ...] = (*datadog.SPECS, *opensearch.SPECS, *pagerduty.SPECS)
MONITORING_CLIENTS: dict[SourceKind, Callable[[ClientContext], Any]] = {
    "datadog": _datadog,
    "opensearch": _opensearch,
    "pagerduty": _pagerduty,
}
