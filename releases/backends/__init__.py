"""Deploy backends: how a promotion or rollback reaches the system that deploys.

`backend_for` picks the backend configured for a (service, environment); `base` holds
the contract. A backend never decides whether an action is allowed; the actions module
has done that before it calls one.
"""

from __future__ import annotations

from releases.backends import github, gitlab, jenkins, kubernetes, noop, webhook
from releases.backends.base import Backend
from settings import BackendConfig, Settings


def config_for(settings: Settings, service: str, environment: str) -> BackendConfig:
    """The first `[[backends]]` entry matching (service, environment), else `noop`."""
    for config in settings.backends:
        if config.service in {service, "*"} and config.environment.lower() in {
            environment.lower(),
            "*",
        }:
            return config
    return BackendConfig(service=service, environment=environment, kind="noop")


def backend_for(settings: Settings, service: str, environment: str) -> Backend:
    """The backend configured for (service, environment).

    Raises:
        ConfigError: The backend's secret variable is not set.
    """
    config = config_for(settings, service, environment)
    if config.kind == "webhook":
        return webhook.WebhookBackend.from_config(config)
    if config.kind == "github":
        return github.GitHubBackend.from_config(config)
    if config.kind == "gitlab":
        return gitlab.GitLabBackend.from_config(config)
    if config.kind == "jenkins":
        return jenkins.JenkinsBackend.from_config(config)
    if config.kind == "kubernetes":
        return kubernetes.DeploymentBackend.from_config(config)
    if config.kind == "argo_rollouts":
        return kubernetes.RolloutBackend.from_config(config)
    return noop.NoopBackend()
