"""The Jenkins backend: start a parameterised build, or proceed the input a build waits on.

`dispatch` mode posts `buildWithParameters` with `ACTION`, `ENVIRONMENT`, `VERSION` and
`REQUEST_ID` (the idempotency key: Jenkins queues a new build per call, so the job should
de-duplicate on it); the answer's `Location` is the queue item. `review` mode promotes by
proceeding the pending `input` of the job's last build, which Jenkins records as the
token's user. HTTP Basic with the user's API token needs no CSRF crumb.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from errors import BackendRejected
from releases.backends.base import BackendRequest, BackendResult, secret_from_env
from releases.backends.http import send
from settings import BackendConfig


@dataclass(frozen=True)
class JenkinsBackend:
    """Talks to one Jenkins job."""

    base_url: str
    job: str
    user: str
    token: str
    mode: str
    timeout: float
    retries: int
    name: str = "jenkins"

    @classmethod
    def from_config(cls, config: BackendConfig) -> JenkinsBackend:
        """Build from config, reading the API token from the variable it names.

        Raises:
            ConfigError: The token variable is not set.
        """
        token = secret_from_env(config, config.token_env)
        return cls(
            str(config.base_url).rstrip("/"),
            str(config.job),
            str(config.user),
            token,
            config.mode,
            config.timeout_seconds,
            config.retries,
        )

    @property
    def _job_path(self) -> str:
        return "".join(f"/job/{part}" for part in self.job.strip("/").split("/"))

    def _send(self, client: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return send(client, method, path, name="Jenkins", retries=self.retries, **kwargs)

    def _client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url, timeout=self.timeout, auth=(self.user, self.token)
        )

    def _build(self, request: BackendRequest) -> BackendResult:
        parameters = {
            "ACTION": request.action,
            "ENVIRONMENT": request.environment,
            "VERSION": request.version,
            "REQUEST_ID": request.key,
        }
        with self._client() as client:
            response = self._send(
                client, "POST", f"{self._job_path}/buildWithParameters", data=parameters
            )
        queued = response.headers.get("Location")
        return BackendResult("dispatched", queued, queued, f"queued {self.job}")

    def _proceed(self, request: BackendRequest) -> BackendResult:
        build = f"{self._job_path}/lastBuild"
        with self._client() as client:
            pending = self._send(client, "GET", f"{build}/wfapi/pendingInputActions").json()
            if not pending:
                msg = f"the last build of {self.job} waits on no input"
                raise BackendRejected(msg)
            # Jenkins upper-cases the first letter of an input id in its URLs.
            input_id = str(pending[0]["id"])
            input_id = input_id[:1].upper() + input_id[1:]
            self._send(client, "POST", f"{build}/input/{input_id}/proceedEmpty")
        return BackendResult(
            "dispatched",
            f"{self.job}#lastBuild",
            f"{self.base_url}{build}/",
            f"proceeded input {input_id} of {self.job}",
        )

    def promote(self, request: BackendRequest) -> BackendResult:
        """Start the build, or proceed its pending input (`mode = review`)."""
        return self._proceed(request) if self.mode == "review" else self._build(request)

    def rollback(self, request: BackendRequest) -> BackendResult:
        """Start the build with `ACTION = rollback`."""
        return self._build(request)
