"""The generic signed webhook backend: our own small contract for any deploy system.

`POST {url}/promote` or `{url}/rollback` with a JSON body naming the action. Headers:
`Idempotency-Key` (the action's key: a receiver answers a repeat with the first result),
`X-Flightdeck-Timestamp` (Unix seconds) and `X-Signature-256: sha256=<hex>`, the
HMAC-SHA256 of `<timestamp>.<body>` with the shared secret, so a receiver can reject both
forgeries and replays. Answers: 200 = done, 202 = accepted (`operation_url` to follow),
409 = the expected current version no longer matches, 423 = frozen at the receiver.
`GET operation_url` answers `{"state": ...}`; `succeeded` and `failed` are final.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass

import httpx

from errors import BackendRejected
from releases.backends.base import BackendRequest, BackendResult, FinalState, secret_from_env
from releases.backends.http import send
from settings import BackendConfig


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """The `X-Signature-256` header value for `body` sent at `timestamp`."""
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


@dataclass(frozen=True)
class WebhookBackend:
    """Calls a receiver implementing the contract above."""

    url: str
    secret: bytes
    timeout: float
    retries: int
    name: str = "webhook"

    @classmethod
    def from_config(cls, config: BackendConfig) -> WebhookBackend:
        """Build from config, reading the secret from the variable it names.

        Raises:
            ConfigError: The secret variable is not set.
        """
        secret = secret_from_env(config, config.secret_env, "secret")
        return cls(
            str(config.url).rstrip("/"), secret.encode(), config.timeout_seconds, config.retries
        )

    def _call(self, request: BackendRequest) -> BackendResult:
        body = json.dumps(
            {
                "request_id": request.key,
                "action": request.action,
                "service": request.service,
                "environment": request.environment,
                "target_version": request.version,
                "sha": request.sha,
                "expected_current_version": request.expected_current_version,
                "actor": request.actor,
                "approvers": request.approvers,
                "reason": request.reason,
                "override": request.override,
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": request.key,
            "X-Flightdeck-Timestamp": timestamp,
            "X-Signature-256": signature(self.secret, timestamp, body),
        }
        with httpx.Client(timeout=self.timeout) as client:
            try:
                response = send(
                    client,
                    "POST",
                    f"{self.url}/{request.action}",
                    name="webhook",
                    retries=self.retries,
                    content=body,
                    headers=headers,
                )
            except BackendRejected as exc:
                raise BackendRejected(_explain(str(exc))) from exc
        payload = response.json() if response.content else {}
        operation = payload.get("operation_url") if isinstance(payload, dict) else None
        if response.status_code == 202:
            return BackendResult(
                "dispatched", operation, operation, f"webhook accepted {request.version}"
            )
        return BackendResult(
            "succeeded", operation, operation, f"webhook deployed {request.version}"
        )

    def status(self, ref: str) -> FinalState | None:
        """GET the `operation_url` the receiver gave: `{"state": "succeeded" | "failed" | ...}`."""
        with httpx.Client(timeout=self.timeout) as client:
            answer = send(client, "GET", ref, name="webhook", retries=self.retries).json()
        return _final(answer.get("state") if isinstance(answer, dict) else None)

    def promote(self, request: BackendRequest) -> BackendResult:
        """POST `/promote`."""
        return self._call(request)

    def rollback(self, request: BackendRequest) -> BackendResult:
        """POST `/rollback`."""
        return self._call(request)


def _final(state: object) -> FinalState | None:
    if state in {"succeeded", "failed"}:
        return "succeeded" if state == "succeeded" else "failed"
    return None


def _explain(message: str) -> str:
    if "HTTP 409" in message:
        return f"{message}; the receiver runs another version than expected (reload and retry)"
    if "HTTP 423" in message:
        return f"{message}; the receiver is frozen"
    if "HTTP 401" in message or "HTTP 403" in message:
        return f"{message}; check the shared secret on both sides"
    return message
