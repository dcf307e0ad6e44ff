"""Every stream Flightdeck can collect, in order, and how to build each kind's client."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from collectors import git, github, gitlab, jenkins, junit, ndjson
from collectors.monitoring import MONITORING_CLIENTS, MONITORING_SPECS
from collectors.spec import CollectorSpec
from errors import SourceConfigError
from integrations.github import github_client
from integrations.gitlab import gitlab_client
from integrations.http import (
    HttpCache,
    RetryPolicy,
    SourceClient,
    credential_fingerprint,
    no_rate_limit_headers,
)
from integrations.jenkins import jenkins_client
from settings import SourceConfig, SourceKind

COLLECTORS: tuple[CollectorSpec, ...] = (
    *github.SPECS,
    *gitlab.SPECS,
    *jenkins.SPECS,
    *junit.SPECS,
    *git.SPECS,
    *ndjson.SPECS,
    *MONITORING_SPECS,
)


@dataclass(frozen=True)
class ClientContext:
    """What a client factory gets from the runner.

    Attributes:
        connection: The connection's name.
        config: Its settings.
        secret: The credential read from `config.token_env` (None when unset).
        cache: The conditional-request cache.
        transport: An httpx transport override (None: the network).
        sleep: How the client waits between retries (None: really sleep).
        retry: Retry policy override.
    """

    connection: str
    config: SourceConfig
    secret: str | None
    cache: HttpCache | None = None
    transport: httpx.BaseTransport | None = None
    sleep: Callable[[float], None] | None = None
    retry: RetryPolicy | None = None


def _github(context: ClientContext) -> Any:
    return github_client(
        context.connection,
        token=context.secret or "",
        base_url=context.config.base_url,
        page_size=context.config.page_size,
        timeout_s=context.config.timeout_seconds,
        cache=context.cache,
        retry=context.retry,
        transport=context.transport,
        sleep=context.sleep,
    )


def _gitlab(context: ClientContext) -> Any:
    return gitlab_client(
        context.connection,
        token=context.secret or "",
        base_url=context.config.base_url,
        page_size=context.config.page_size,
        timeout_s=context.config.timeout_seconds,
        cache=context.cache,
        retry=context.retry,
        transport=context.transport,
        sleep=context.sleep,
    )


def _jenkins(context: ClientContext) -> Any:
    if not context.config.username or not context.config.base_url:
        msg = (
            f"connection {context.connection!r}: a Jenkins connection needs `base_url` and "
            "`username` (the user whose API token `token_env` holds)"
        )
        raise SourceConfigError(msg)
    return jenkins_client(
        context.connection,
        username=context.config.username,
        token=context.secret or "",
        base_url=context.config.base_url,
        page_size=min(context.config.page_size, 50),
        timeout_s=context.config.timeout_seconds,
        cache=context.cache,
        retry=context.retry,
        transport=context.transport,
        sleep=context.sleep,
    )


def _ndjson(context: ClientContext) -> Any:
    # Only URL scopes use it; an optional token (token_env) is sent as a bearer token.
    headers = {"Authorization": f"Bearer {context.secret}"} if context.secret else {}
    return SourceClient(
        connection=context.connection,
        system="NDJSON",
        base_url=context.config.base_url or "",
        headers=headers | {"Accept": "application/x-ndjson, application/json"},
        rate_limit=no_rate_limit_headers,
        timeout_s=context.config.timeout_seconds,
        retry=context.retry,
        cache=context.cache,
        credential_fingerprint=credential_fingerprint(context.secret or ""),
        transport=context.transport,
        sleep=context.sleep,
    )


def _no_client(_context: ClientContext) -> None:
    return None  # file-based sources read the local filesystem


# Kinds whose client needs the credential named by `token_env`.
NEEDS_SECRET: frozenset[SourceKind] = frozenset({"github", "gitlab", "jenkins"})
CLIENTS: dict[SourceKind, Callable[[ClientContext], Any]] = {
    "github": _github,
    "gitlab": _gitlab,
    "jenkins": _jenkins,
    "junit": _no_client,
    "git": _no_client,
    "ndjson": _ndjson,
    **MONITORING_CLIENTS,
}


def specs_for(kind: SourceKind) -> list[CollectorSpec]:
    """The streams of a source kind, in registry order."""
    return [spec for spec in COLLECTORS if spec.kind == kind]
