"""The contract every deploy backend implements: a request in, a result (or an error) out.

Every backend takes a `BackendRequest` and answers with a `BackendResult`, or raises a
`BackendError` (errors.py) saying what went wrong. A backend never decides whether an
action is allowed; the actions module has done that before it calls one. The request's
`key` is the action's idempotency key, passed on so the far side can de-duplicate retries.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from errors import ConfigError

if TYPE_CHECKING:
    from settings import BackendConfig


@dataclass(frozen=True)
class BackendRequest:
    """What a backend is asked to do.

    Attributes:
        key: The action's idempotency key.
        action: `promote` or `rollback`.
        service: The service.
        environment: The environment.
        version: The version to run there.
        sha: Its commit, when known.
        expected_current_version: What the requester saw running (compare-and-swap).
        actor: Who acts.
        approvers: Who approved (promotions).
        reason: The requester's reason or comment.
        override: Whether an admin overrode a failed gate or a freeze.
    """

    key: str
    action: Literal["promote", "rollback"]
    service: str
    environment: str
    version: str
    sha: str | None
    expected_current_version: str | None
    actor: str
    approvers: list[str] = field(default_factory=list)
    reason: str | None = None
    override: bool = False


@dataclass(frozen=True)
class BackendResult:
    """What the backend did.

    Attributes:
        state: `succeeded` (done: the version runs) or `dispatched` (accepted, in flight).
        ref: The backend's id for the operation (a run id, an operation URL), if any.
        url: Where a human can follow it, if anywhere.
        message: One line for the audit log and the page.
        record: Flightdeck records the deployment itself, because no collector will report
            it (noop, and Kubernetes, whose desired state the backend has just set).
    """

    state: Literal["succeeded", "dispatched"]
    ref: str | None
    url: str | None
    message: str
    record: bool = False


class Backend(Protocol):
    """A deploy system Flightdeck can promote and roll back through."""

    @property
    def name(self) -> str:
        """The backend's kind, as recorded on the action."""
        ...

    def promote(self, request: BackendRequest) -> BackendResult:
        """Deploy `request.version` as a promotion."""
        ...

    def rollback(self, request: BackendRequest) -> BackendResult:
        """Deploy the earlier `request.version` as a rollback."""
        ...


FinalState = Literal["succeeded", "failed"]


@runtime_checkable
class Reconcilable(Protocol):
    """A backend that can say how a dispatched operation ended."""

    def status(self, ref: str) -> FinalState | None:
        """The operation's final state, or None while it still runs."""
        ...


def secret_from_env(config: BackendConfig, variable: str | None, what: str = "token") -> str:
    """Read a backend's credential from the environment variable its config names.

    Raises:
        ConfigError: The variable is unset or empty; the message names it, never a value.
    """
    value = os.environ.get(variable or "")
    if not value:
        msg = (
            f"the {config.kind} backend of {config.service}/{config.environment} reads its "
            f"{what} from ${variable}, which is not set"
        )
        raise ConfigError(msg)
    return value
