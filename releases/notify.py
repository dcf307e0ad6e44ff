"""Announcements of release actions: Slack incoming webhooks and plain JSON webhooks.

Best effort and after the fact: an action is announced once it is committed, and a failed
announcement is logged, never raised, because a rollback must not fail on Slack. Each
action is announced once per outcome: a replayed idempotency key announces nothing, and
the JSON webhook carries `Idempotency-Key: <action key>:<outcome>` for receivers that retry.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import httpx

from settings import NotificationConfig, Settings

logger = logging.getLogger(__name__)
# httpx logs every request's full URL at INFO; a Slack webhook URL is a secret, so its
# request lines are kept out of the logs (warnings and errors still show).
logging.getLogger("httpx").setLevel(logging.WARNING)
TIMEOUT_SECONDS = 5.0
ANNOUNCED_OUTCOMES = frozenset({"pending", "succeeded", "dispatched"})


@dataclass(frozen=True)
class Announcement:
    """One committed action, as announced.

    Attributes:
        key: The action's idempotency key.
        kind: The action (request, approve, ...).
        service: The service.
        environment: The environment.
        actor: Who acted.
        outcome: How it ended.
        message: The action's one-line result.
    """

    key: str
    kind: str
    service: str
    environment: str
    actor: str
    outcome: str
    message: str

    def text(self, app_url: str) -> str:
        """The human-readable line, with a link back to the Releases page."""
        link = f"{app_url.rstrip('/')}/release_control"
        return (
            f"{self.service}/{self.environment}: {self.kind} by {self.actor}: {self.message} "
            f"(<{link}|open in Flightdeck>)"
        )


def _send(config: NotificationConfig, announcement: Announcement) -> None:
    url = os.environ.get(config.url_env)
    if not url:
        logger.warning("notification skipped: $%s is not set", config.url_env)
        return
    if config.kind == "slack":
        body: dict[str, object] = {"text": announcement.text(config.app_url)}
        headers = {}
    else:
        body = {
            "action": announcement.kind,
            "service": announcement.service,
            "environment": announcement.environment,
            "actor": announcement.actor,
            "outcome": announcement.outcome,
            "message": announcement.message,
            "request_id": announcement.key,
            "link": f"{config.app_url.rstrip('/')}/release_control",
        }
        headers = {"Idempotency-Key": f"{announcement.key}:{announcement.outcome}"}
    try:
        response = httpx.post(url, json=body, headers=headers, timeout=TIMEOUT_SECONDS)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        # The URL may embed a secret (Slack's does), so only the variable's name is logged.
        logger.warning("notification via $%s failed: %s", config.url_env, type(exc).__name__)


def announce(settings: Settings, announcement: Announcement) -> None:
    """Send `announcement` to every configured destination that wants this action."""
    if announcement.outcome not in ANNOUNCED_OUTCOMES:
        return
    for config in settings.notifications:
        if announcement.kind in config.actions:
            _send(config, announcement)
