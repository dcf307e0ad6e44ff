"""The `noop` backend: deploys nothing and reports success, so Flightdeck only records.

It is the demo default and what an unconfigured target uses; the actions module records
the deployment itself, so the Releases page shows the new version as running.
"""

from __future__ import annotations

from releases.backends.base import BackendRequest, BackendResult


class NoopBackend:
    """Records only."""

    name = "noop"

    def promote(self, request: BackendRequest) -> BackendResult:
        """Report the promotion as done."""
        return BackendResult(
            "succeeded", None, None, f"recorded {request.version} (noop)", record=True
        )

    def rollback(self, request: BackendRequest) -> BackendResult:
        """Report the rollback as done."""
        return BackendResult(
            "succeeded", None, None, f"recorded {request.version} (noop)", record=True
        )
