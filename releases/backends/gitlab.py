"""The GitLab backend: run a deploy pipeline, or approve and play a blocked deployment.

`dispatch` mode creates a pipeline on `ref` with variables `FLIGHTDECK_ACTION`,
`FLIGHTDECK_ENVIRONMENT`, `FLIGHTDECK_VERSION` and `FLIGHTDECK_REQUEST_ID` (the
idempotency key; pipeline creation is not idempotent on GitLab's side, so the pipeline
should de-duplicate on it). `review` mode promotes by approving the environment's blocked
deployment of the candidate's commit, then playing its manual job (GitLab leaves it manual
after approval). The token (`PRIVATE-TOKEN`) acts as its user. Rollbacks always dispatch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from errors import BackendRejected
from releases.backends.base import BackendRequest, BackendResult, secret_from_env
from releases.backends.http import send
from settings import BackendConfig

DEFAULT_BASE_URL = "https://gitlab.com/api/v4"


@dataclass(frozen=True)
class GitLabBackend:
    """Talks to the GitLab REST API v4 with one token."""

    base_url: str
    project: str
    ref: str
    token: str
    mode: str
    timeout: float
    retries: int
    name: str = "gitlab"

    @classmethod
    def from_config(cls, config: BackendConfig) -> GitLabBackend:
        """Build from config, reading the token from the variable it names.

        Raises:
            ConfigError: The token variable is not set.
        """
        token = secret_from_env(config, config.token_env)
        return cls(
            (config.base_url or DEFAULT_BASE_URL).rstrip("/"),
            str(config.repo),
            config.ref,
            token,
            config.mode,
            config.timeout_seconds,
            config.retries,
        )

    def _client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url, timeout=self.timeout, headers={"PRIVATE-TOKEN": self.token}
        )

    def _send(self, client: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
        project = quote(self.project, safe="")
        return send(
            client,
            method,
            f"/projects/{project}{path}",
            name="GitLab",
            retries=self.retries,
            **kwargs,
        )

    def _pipeline(self, request: BackendRequest) -> BackendResult:
        variables = {
            "FLIGHTDECK_ACTION": request.action,
            "FLIGHTDECK_ENVIRONMENT": request.environment,
            "FLIGHTDECK_VERSION": request.version,
            "FLIGHTDECK_REQUEST_ID": request.key,
        }
        body = {
            "ref": self.ref,
            "variables": [{"key": key, "value": value} for key, value in variables.items()],
        }
        with self._client() as client:
            pipeline = self._send(client, "POST", "/pipeline", json=body).json()
        return BackendResult(
            "dispatched",
            str(pipeline.get("id")),
            pipeline.get("web_url"),
            f"started pipeline {pipeline.get('id')}",
        )

    def _approve(self, request: BackendRequest) -> BackendResult:
        if request.sha is None:
            msg = f"no commit known for {request.version}, so no blocked deployment can be found"
            raise BackendRejected(msg)
        with self._client() as client:
            blocked = self._send(
                client,
                "GET",
                "/deployments",
                params={"environment": request.environment, "status": "blocked"},
            ).json()
            deployment = next((d for d in blocked if d.get("sha") == request.sha), None)
            if deployment is None:
                msg = (
                    f"no GitLab deployment of {request.sha[:12]} is blocked on "
                    f"{request.environment}"
                )
                raise BackendRejected(msg)
            approvers = ", ".join(request.approvers) or "nobody"
            self._send(
                client,
                "POST",
                f"/deployments/{deployment['id']}/approval",
                json={
                    "status": "approved",
                    "comment": f"Approved in Flightdeck by {approvers} (request {request.key})",
                },
            )
            job = deployment.get("deployable") or {}
            played = self._send(client, "POST", f"/jobs/{job['id']}/play").json()
        return BackendResult(
            "dispatched",
            str(played.get("id")),
            played.get("web_url"),
            f"approved deployment {deployment['id']} and played job {played.get('id')}",
        )

    def promote(self, request: BackendRequest) -> BackendResult:
        """Run the pipeline, or approve the blocked deployment (`mode = review`)."""
        return self._approve(request) if self.mode == "review" else self._pipeline(request)

    def rollback(self, request: BackendRequest) -> BackendResult:
        """Run the pipeline with `FLIGHTDECK_ACTION = rollback`."""
        return self._pipeline(request)
