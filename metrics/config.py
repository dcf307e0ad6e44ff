"""The settings the DORA engine depends on, as one hashable value with a short profile key.

The engine never reads the environment or the config file: entry points build an
`EngineConfig` from the `Settings` (`EngineConfig.from_settings`) and pass it in. Its
`profile` names the derived rows computed under it (see `models.metrics`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import timedelta

from models.metrics import PROFILE_LENGTH
from settings import Settings

DEFAULT_PRODUCTION = frozenset({"production", "prod"})


@dataclass(frozen=True)
class EngineConfig:
    """What decides production-ness, hotfixes and time attribution.

    Attributes:
        production_environments: Lower-case environment names that are production.
        hotfix_patterns: Lower-case substrings that make a version or ref a hotfix.
        attribution_window: How long before an incident a deployment may have caused it.
        service_production: Per-service production environments, overriding the default
            set for that service (the catalog's `services.<name>.production`).
        unnamed_environment_is_production: Whether an incident with no environment is a
            production incident (true, unless `--environment` names a non-production one).
    """

    production_environments: frozenset[str] = DEFAULT_PRODUCTION
    hotfix_patterns: tuple[str, ...] = ("hotfix",)
    attribution_window: timedelta = timedelta(hours=24)
    service_production: tuple[tuple[str, frozenset[str]], ...] = field(default=())
    unnamed_environment_is_production: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> EngineConfig:
        """Take the engine's settings from the loaded `Settings`."""
        overrides = tuple(
            sorted(
                (name, frozenset(env.lower() for env in service.production))
                for name, service in settings.services.items()
                if service.production is not None
            )
        )
        return cls(
            production_environments=frozenset(settings.production_environments),
            hotfix_patterns=tuple(p for p in settings.hotfix_patterns if p),
            attribution_window=timedelta(hours=settings.attribution_window_hours),
            service_production=overrides,
        )

    def for_environment(self, environment: str) -> EngineConfig:
        """Treat `environment` (and only it) as production, for deployments and incidents.

        An incident with no environment then counts only when `environment` is one of the
        configured production names (DESIGN §4).
        """
        name = environment.lower()
        return replace(
            self,
            production_environments=frozenset({name}),
            service_production=(),
            unnamed_environment_is_production=name in self.production_environments,
        )

    def production_set(self, service: str) -> frozenset[str]:
        """The production environments of `service` (lower case)."""
        return dict(self.service_production).get(service, self.production_environments)

    def is_production(self, service: str, environment: str | None) -> bool:
        """Whether a deployment or incident of `service` in `environment` is production."""
        if environment is None:
            return self.unnamed_environment_is_production
        return environment.lower() in self.production_set(service)

    def is_hotfix_name(self, *names: str | None) -> bool:
        """Whether any of the names (a version, a ref) contains a hotfix pattern."""
        return any(
            pattern in name.lower() for name in names if name for pattern in self.hotfix_patterns
        )

    @property
    def profile(self) -> str:
        """A short stable key for this configuration."""
        canonical = json.dumps(
            {
                "production": sorted(self.production_environments),
                "hotfix": list(self.hotfix_patterns),
                "window_us": self.attribution_window // timedelta(microseconds=1),
                "services": [[name, sorted(envs)] for name, envs in self.service_production],
                "unnamed": self.unnamed_environment_is_production,
            },
            sort_keys=True,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()[:PROFILE_LENGTH]
