"""The GitHub Actions backend: dispatch a deploy workflow, or approve a waiting deployment.

`dispatch` mode starts `workflow` with inputs `environment`, `version`, `action`
(promote / rollback) and `request_id` (the idempotency key: dispatches are not
idempotent on GitHub's side, so the workflow should de-duplicate on it), asking for the run
id back (`return_run_details`). `review` mode promotes by approving the pending deployment
review of the run of the candidate's commit that waits on the environment; the token must
belong to a required reviewer. Rollbacks always dispatch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from errors import BackendRejected
from releases.backends.base import BackendRequest, BackendResult, FinalState, secret_from_env
from releases.backends.http import send
from settings import BackendConfig

API_VERSION = "2022-11-28"
DEFAULT_BASE_URL = "https://api.github.com"


@dataclass(frozen=True)
class GitHubBackend:
    """Talks to the GitHub REST API (or GitHub Enterprise) with one token."""

    base_url: str
    repo: str
    workflow: str | None
    ref: str
    token: str
    mode: str
    timeout: float
    retries: int
    name: str = "github"

    @classmethod
    def from_config(cls, config: BackendConfig) -> GitHubBackend:
        """Build from config, reading the token from the variable it names.

        Raises:
            ConfigError: The token variable is not set.
        """
        token = secret_from_env(config, config.token_env)
        return cls(
            (config.base_url or DEFAULT_BASE_URL).rstrip("/"),
            str(config.repo),
            config.workflow,
            config.ref,
            token,
            config.mode,
            config.timeout_seconds,
            config.retries,
        )

    def _client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            timeout=self.timeout,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
            },
        )

    def _send(self, client: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return send(client, method, path, name="GitHub", retries=self.retries, **kwargs)

    def _dispatch(self, request: BackendRequest) -> BackendResult:
        if self.workflow is None:
            msg = f"GitHub backend of {request.service}/{request.environment} has no `workflow`"
            raise BackendRejected(msg)
        body = {
            "ref": self.ref,
            "inputs": {
                "environment": request.environment,
                "version": request.version,
                "action": request.action,
                "request_id": request.key,
            },
            "return_run_details": True,
        }
        path = f"/repos/{self.repo}/actions/workflows/{self.workflow}/dispatches"
        with self._client() as client:
            response = self._send(client, "POST", path, json=body)
        if response.status_code == 204 or not response.content:  # older GHES: no run details
            return BackendResult("dispatched", None, None, f"dispatched {self.workflow}")
        run = response.json()
        run_id = run.get("workflow_run_id")
        return BackendResult(
            "dispatched",
            str(run_id) if run_id is not None else None,
            run.get("html_url"),
            f"dispatched {self.workflow} run {run_id}",
        )

    def _review(self, request: BackendRequest) -> BackendResult:
        if request.sha is None:
            msg = f"no commit known for {request.version}, so no waiting run can be found"
            raise BackendRejected(msg)
        with self._client() as client:
            runs = self._send(
                client,
                "GET",
                f"/repos/{self.repo}/actions/runs",
                params={"status": "waiting", "head_sha": request.sha},
            ).json()
            for run in runs.get("workflow_runs", []):
                pending = self._send(
                    client,
                    "GET",
                    f"/repos/{self.repo}/actions/runs/{run['id']}/pending_deployments",
                ).json()
                ids = [
                    entry["environment"]["id"]
                    for entry in pending
                    if entry["environment"]["name"].lower() == request.environment.lower()
                ]
                if not ids:
                    continue
                approvers = ", ".join(request.approvers) or "nobody"
                comment = (
                    f"Approved in Flightdeck by {approvers}; promoted by {request.actor} "
                    f"(request {request.key})"
                )
                self._send(
                    client,
                    "POST",
                    f"/repos/{self.repo}/actions/runs/{run['id']}/pending_deployments",
                    json={"environment_ids": ids, "state": "approved", "comment": comment},
                )
                return BackendResult(
                    "dispatched",
                    str(run["id"]),
                    run.get("html_url"),
                    f"approved run {run['id']} for {request.environment}",
                )
        msg = f"no GitHub run of {request.sha[:12]} is waiting for {request.environment}"
        raise BackendRejected(msg)

    def promote(self, request: BackendRequest) -> BackendResult:
        """Dispatch the workflow, or approve the waiting run (`mode = review`)."""
        return self._review(request) if self.mode == "review" else self._dispatch(request)

    def rollback(self, request: BackendRequest) -> BackendResult:
        """Dispatch the workflow with `action = rollback`."""
        return self._dispatch(request)

    def status(self, ref: str) -> FinalState | None:
        """How the dispatched or approved run `ref` (a run id) ended, if it has."""
        with self._client() as client:
            run = self._send(client, "GET", f"/repos/{self.repo}/actions/runs/{ref}").json()
        if run.get("status") != "completed":
            return None
        return "succeeded" if run.get("conclusion") == "success" else "failed"
