"""The configured streams: each (connection, stream, scope) the settings ask to collect.

Pure configuration, no I/O: the CLI, the worker, the webhook receiver and the Sources page
all list streams through `configured_streams`, so they agree on names.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from collectors.registry import CLIENTS, specs_for
from collectors.spec import CollectorSpec
from errors import InputError
from settings import Settings, SourceConfig


@dataclass(frozen=True)
class Stream:
    """One stream to collect.

    Attributes:
        connection: The connection's name in `settings.sources`.
        config: The connection's settings.
        spec: The collector.
        scope: The repository, project, path or URL it reads.
    """

    connection: str
    config: SourceConfig
    spec: CollectorSpec
    scope: str

    @property
    def key(self) -> str:
        """`connection:stream:scope`, the stream's name everywhere (CLI, state, page)."""
        return f"{self.connection}:{self.spec.stream}:{self.scope}"


def configured_streams(settings: Settings) -> list[Stream]:
    """Every stream of every configured source that has a collector, in config order."""
    streams: list[Stream] = []
    for connection, config in settings.sources.items():
        if config.kind not in CLIENTS:
            continue
        for spec in specs_for(config.kind):
            if config.streams and spec.stream not in config.streams:
                continue
            streams.extend(Stream(connection, config, spec, scope) for scope in config.scopes)
    return streams


def select_streams(streams: list[Stream], names: Iterable[str]) -> list[Stream]:
    """The streams matching each name: a full key, `connection:stream`, or `connection`.

    Raises:
        InputError: A name matches no configured stream; the message lists what exists.
    """
    chosen: list[Stream] = []
    for name in names:
        matches = [
            stream
            for stream in streams
            if name in (stream.key, stream.connection, f"{stream.connection}:{stream.spec.stream}")
        ]
        if not matches:
            known = ", ".join(stream.key for stream in streams) or "none configured"
            msg = f"no configured stream matches {name!r} (streams: {known})"
            raise InputError(msg)
        chosen.extend(stream for stream in matches if stream not in chosen)
    return chosen
