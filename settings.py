"""The one typed Settings object and its loader.

Values come, highest priority first, from keyword arguments, `FLIGHTDECK_*` environment
variables and the TOML config file (`flightdeck.toml` beside this file, or the path in
`FLIGHTDECK_CONFIG`). `flightdeck.example.toml` shows every key with a comment.

Secrets never live here or in the config file: a source names the environment variable
that holds its token (`token_env`), and only the code that talks to that source reads it.
Every field carries a description; `tests/test_settings.py` fails when one is missing from
the README's Configuration section.
"""

from __future__ import annotations

import os
import tomllib
import zoneinfo
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent
CONFIG_ENV = "FLIGHTDECK_CONFIG"
DEFAULT_CONFIG_FILE = PROJECT_ROOT / "flightdeck.toml"
DEFAULT_DATABASE_URL = f"sqlite:///{PROJECT_ROOT / 'data' / 'flightdeck.db'}"


def _lowercase_all(names: list[str]) -> list[str]:
    # Environment names and patterns compare case-insensitively everywhere (DESIGN §4).
    return [name.lower() for name in names]


class _Section(BaseModel):
    """Base of config-file sections: unknown keys are errors, so typos never pass silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ServiceConfig(_Section):
    """One service of the catalog: who owns it, where its code lives, where it runs."""

    team: str | None = Field(None, description="Team that owns the service (groups metrics).")
    repos: list[str] = Field(
        default_factory=list,
        description="Repositories (`owner/name`) whose commits the service ships.",
    )
    environments: list[str] = Field(
        default_factory=lambda: ["staging", "production"],
        description="The service's environments in promotion order.",
    )
    production: list[str] | None = Field(
        None,
        description="Which of its environments are production; unset: `production_environments`.",
    )
    tier: str | None = Field(None, description="Free-form criticality label, e.g. `tier-1`.")


SourceKind = Literal[
    "github", "gitlab", "jenkins", "junit", "git", "datadog", "opensearch", "pagerduty", "ndjson"
]


class SourceConfig(_Section):
    """One connection to an outside system that a collector reads."""

    kind: SourceKind = Field(description="Which system this is; selects the collector.")
    base_url: str | None = Field(
        None, description="API base URL (GitHub Enterprise, self-hosted GitLab, Jenkins...)."
    )
    token_env: str | None = Field(
        None,
        description="Name of the environment variable holding the credential (never the value).",
    )
    scopes: list[str] = Field(
        default_factory=list,
        description="What to read: repositories, projects, jobs, paths or globs, by kind.",
    )
    interval_minutes: Annotated[int, Field(ge=1)] = Field(
        15, description="How often the worker collects from this source."
    )
    lookback_minutes: Annotated[int, Field(ge=0)] = Field(
        60, description="How far each run re-reads before its cursor, to catch late updates."
    )
    settle_minutes: Annotated[int, Field(ge=0)] = Field(
        2, description="The cursor never passes now minus this (data the source may still add)."
    )
    backfill_days: Annotated[int, Field(ge=1)] = Field(
        30, description="How far back the first run of a stream reads."
    )
    max_open_days: Annotated[int, Field(ge=1)] = Field(
        7, description="Unfinished runs and deployments are re-polled by id for this long."
    )
    streams: list[str] = Field(
        default_factory=list,
        description="Streams of this source to collect (e.g. `workflow_runs`); empty: all.",
    )
    page_size: Annotated[int, Field(ge=1, le=100)] = Field(
        100, description="Items per requested page (lower it if large pages time out)."
    )
    timeout_seconds: Annotated[float, Field(gt=0)] = Field(
        30.0, description="Read timeout of each HTTP request (connecting gets 5 s)."
    )
    build_jobs: bool = Field(
        True, description="GitHub: read each finished run's jobs (exact times, earlier attempts)."
    )
    username: str | None = Field(
        None, description="Jenkins: the user whose API token `token_env` holds."
    )
    webhook_secret_env: str | None = Field(
        None,
        description="Variable holding the webhook secret (GitHub HMAC, NDJSON bearer token).",
    )
    # Monitoring and incident sources (Datadog, OpenSearch, PagerDuty).
    app_key_env: str | None = Field(
        None, description="Datadog: variable holding the application key (`token_env`: API key)."
    )
    site: str | None = Field(
        None, description="Datadog: site, e.g. `datadoghq.eu` (unset: US1; `base_url` wins)."
    )
    hosts: list[str] = Field(
        default_factory=list,
        description="OpenSearch: node URLs (`https://host:9200`); empty: `base_url`.",
    )
    verify_certs: bool = Field(True, description="OpenSearch: verify the nodes' TLS certificates.")
    ca_certs: str | None = Field(
        None, description="OpenSearch: CA bundle file for the nodes' certificates."
    )
    service_map: dict[str, str] = Field(
        default_factory=dict,
        description="Datadog/OpenSearch/PagerDuty: source service name or id -> catalog service.",
    )
    service_field: str = Field(
        "service.name", description="OpenSearch: log field naming the service (ECS)."
    )
    version_field: str = Field(
        "service.version",
        description="OpenSearch: log field naming the version (per-version rates); empty: off.",
    )
    level_field: str = Field("log.level", description="OpenSearch: log field holding the level.")
    error_levels: list[str] = Field(
        default_factory=lambda: ["error", "fatal", "critical"],
        description="OpenSearch: levels that count as errors.",
    )
    error_query: str | None = Field(
        None,
        description="OpenSearch: query string matching error logs; overrides `error_levels`.",
    )
    timestamp_field: str = Field("@timestamp", description="OpenSearch: the logs' time field.")
    id_field: str = Field(
        "event.id", description="OpenSearch: unique keyword field, the log scans' tie-breaker."
    )
    bucket_minutes: Annotated[int, Field(ge=1)] = Field(
        5, description="OpenSearch: width of one error-rate bucket."
    )
    min_samples: Annotated[int, Field(ge=1)] = Field(
        100, description="OpenSearch: buckets with fewer logs are stored as `no_data`."
    )
    deploy_query: str | None = Field(
        None,
        description="OpenSearch: query string matching deploy-marker logs (unset: no scan).",
    )
    environment_field: str = Field(
        "service.environment", description="OpenSearch: log field naming the environment."
    )


class CheckMode(StrEnum):
    """Whether a failing gate check stops a promotion or only warns."""

    blocking = "blocking"
    advisory = "advisory"


class GateCheck(_Section):
    """A gate check with no parameters."""

    mode: CheckMode = Field(CheckMode.blocking, description="`blocking` or `advisory`.")


class TestPassRateCheck(GateCheck):
    """Minimum share of passing tests on the version's builds."""

    min_rate: Annotated[float, Field(ge=0, le=1)] = Field(
        1.0, description="Lowest acceptable pass rate, 0 to 1."
    )


class OpenIncidentsCheck(GateCheck):
    """No open production incident of the service at or above a severity."""

    min_severity: str = Field(
        "sev2", description="Incidents this severe or worse block (`sev1` is the worst)."
    )


class MonitorsCheck(GateCheck):
    """The service's Datadog monitors and SLOs are OK and recent."""

    max_age_minutes: Annotated[int, Field(ge=1)] = Field(
        15, description="Monitor states older than this count as missing data."
    )


class ErrorRateCheck(GateCheck):
    """The OpenSearch error rate of the service stays under a threshold."""

    max_rate: Annotated[float, Field(ge=0, le=1)] = Field(
        0.01, description="Highest acceptable error rate, 0 to 1."
    )
    window_minutes: Annotated[int, Field(ge=1)] = Field(
        30, description="The highest rate observed in this many recent minutes is compared."
    )
    monitor: str = Field(
        "error_rate",
        description="Monitor series holding the rate: this name, or any name ending `.<name>`.",
    )


class SoakCheck(GateCheck):
    """The version has run long enough in the previous environment."""

    minutes: Annotated[int, Field(ge=0)] = Field(60, description="Minimum soak time.")


class FreezeWindow(_Section):
    """A period during which promotions need an admin override."""

    timezone: str = Field("UTC", description="IANA time zone the window is written in.")
    cron: str | None = Field(
        None, description="Recurring start as a five-field cron expression (with `minutes`)."
    )
    minutes: Annotated[int, Field(ge=1)] | None = Field(
        None, description="Length of each recurring window."
    )
    start: str | None = Field(None, description="One-off window start, local ISO date-time.")
    end: str | None = Field(None, description="One-off window end, local ISO date-time.")
    reason: str = Field("", description="Shown on the banner, e.g. `year-end freeze`.")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            msg = f"unknown IANA time zone {value!r}"
            raise ValueError(msg) from exc
        return value

    @field_validator("cron")
    @classmethod
    def _five_fields(cls, value: str | None) -> str | None:
        if value is not None and len(value.split()) != 5:
            msg = f"cron expression {value!r} must have five fields (min hour day month weekday)"
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _recurring_or_one_off(self) -> FreezeWindow:
        # A window with half its definition would silently never be active.
        if (self.cron is None) != (self.minutes is None):
            msg = "a recurring freeze needs both `cron` and `minutes`"
            raise ValueError(msg)
        if (self.start is None) != (self.end is None):
            msg = "a one-off freeze needs both `start` and `end`"
            raise ValueError(msg)
        if (self.cron is None) == (self.start is None):
            msg = "a freeze is either recurring (`cron`, `minutes`) or one-off (`start`, `end`)"
            raise ValueError(msg)
        return self


class GateChecks(_Section):
    """The checks a gate runs; a check left out is not run."""

    builds_green: GateCheck | None = Field(None, description="Builds on the version's sha passed.")
    test_pass_rate: TestPassRateCheck | None = Field(None, description="Test pass rate floor.")
    no_new_failing_tests: GateCheck | None = Field(
        None, description="No test fails that passed on the running version."
    )
    open_incidents: OpenIncidentsCheck | None = Field(
        None, description="No open production incident at or above a severity."
    )
    monitors: MonitorsCheck | None = Field(None, description="Datadog monitors and SLOs OK.")
    error_rate: ErrorRateCheck | None = Field(None, description="OpenSearch error rate ceiling.")
    soak: SoakCheck | None = Field(None, description="Soak time in the previous environment.")


class GatePolicy(_Section):
    """The gate for promoting a service into an environment."""

    service: str = Field(description="Service name, or `*` for every service.")
    environment: str = Field(description="Target environment of the promotion.")
    approvals: Annotated[int, Field(ge=0)] = Field(
        0, description="Distinct approvers needed; the requester never counts."
    )
    checks: GateChecks = Field(default_factory=GateChecks, description="The checks to run.")
    freezes: list[FreezeWindow] = Field(
        default_factory=list, description="Freeze windows for this target."
    )


BackendKind = Literal[
    "noop", "webhook", "github", "gitlab", "jenkins", "kubernetes", "argo_rollouts"
]


class BackendConfig(_Section):
    """How promotions and rollbacks of a (service, environment) reach the deploying system.

    Secrets are named, never given: `secret_env` and `token_env` hold environment variable
    names. Targets without a matching entry use `noop`, which only records.
    """

    service: str = Field(description="Service name, or `*` for every service.")
    environment: str = Field(description="Environment name, or `*` for every environment.")
    kind: BackendKind = Field(
        "noop",
        description="`noop` (records only), `webhook`, `github`, `gitlab`, `jenkins`, `kubernetes` "
        "or `argo_rollouts`.",
    )
    url: str | None = Field(
        None, description="Webhook: receiver base URL; `/promote` or `/rollback` is appended."
    )
    secret_env: str | None = Field(
        None, description="Webhook: environment variable holding the HMAC signing secret."
    )
    base_url: str | None = Field(
        None,
        description="API base URL: GitHub (default `https://api.github.com`), GitLab (default "
        "`https://gitlab.com/api/v4`), Jenkins (required) or the Kubernetes API server "
        "(default: in-cluster, else the kubeconfig).",
    )
    repo: str | None = Field(
        None, description="GitHub `owner/name`, or GitLab project path, running the deployments."
    )
    workflow: str | None = Field(
        None, description="GitHub: workflow file or id that `dispatch` starts."
    )
    ref: str = Field("main", description="GitHub / GitLab: git ref the dispatch runs on.")
    job: str | None = Field(None, description="Jenkins: job path, e.g. `payments/api-deploy`.")
    user: str | None = Field(None, description="Jenkins: user the API token belongs to.")
    token_env: str | None = Field(
        None,
        description="Environment variable holding the GitHub, GitLab, Jenkins or Kubernetes token.",
    )
    namespace: str = Field("default", description="Kubernetes: namespace of the workload.")
    name: str | None = Field(None, description="Kubernetes: the Deployment or Rollout name.")
    container: str | None = Field(
        None, description="Kubernetes: container whose image tag is the version (default first)."
    )
    mode: Literal["dispatch", "review"] = Field(
        "dispatch",
        description="Promotions: `dispatch` (start the workflow, pipeline or job) or `review` "
        "(approve the deployment waiting for it).",
    )
    timeout_seconds: Annotated[float, Field(gt=0)] = Field(
        10.0, description="Timeout of each HTTP request to the backend."
    )
    retries: Annotated[int, Field(ge=0, le=5)] = Field(
        2, description="Retries after a 5xx or network error (same idempotency key)."
    )

    @model_validator(mode="after")
    def _complete_for_kind(self) -> BackendConfig:
        needed = {
            "noop": (),
            "webhook": ("url", "secret_env"),
            "github": ("repo", "token_env") + (("workflow",) if self.mode == "dispatch" else ()),
            "gitlab": ("repo", "token_env"),
            "jenkins": ("base_url", "job", "user", "token_env"),
            "kubernetes": ("name",),
            "argo_rollouts": ("name",),
        }[self.kind]
        missing = [name for name in needed if getattr(self, name) is None]
        if missing:
            msg = f"a `{self.kind}` backend needs {', '.join(f'`{name}`' for name in missing)}"
            raise ValueError(msg)
        return self


NotifiedAction = Literal["request", "approve", "reject", "promote", "rollback", "hold", "unhold"]
DEFAULT_ANNOUNCED: tuple[NotifiedAction, ...] = (
    "request",
    "approve",
    "promote",
    "rollback",
    "hold",
)


class NotificationConfig(_Section):
    """Where release actions are announced: a Slack incoming webhook or any HTTP endpoint."""

    kind: Literal["slack", "webhook"] = Field(description="`slack` or `webhook` (JSON).")
    url_env: str = Field(
        description="Environment variable holding the URL (a Slack webhook URL is a secret)."
    )
    actions: list[NotifiedAction] = Field(
        default_factory=lambda: list(DEFAULT_ANNOUNCED),
        description="Which actions are announced (when they succeed or start).",
    )
    app_url: str = Field(
        "http://localhost:8501", description="Flightdeck's address, for the link back."
    )


Role = Literal["viewer", "analyst", "captain", "admin"]


class AuthConfig(_Section):
    """How users sign in and how their role is found."""

    mode: Literal["none", "oidc", "proxy"] = Field(
        "none", description="`none` (local demo, everyone admin), `oidc` (st.login) or `proxy`."
    )
    roles_claim: str = Field("roles", description="OIDC claim that lists the user's roles.")
    proxy_user_header: str = Field(
        "X-Forwarded-Email", description="Header a trusted proxy puts the user's e-mail in."
    )
    default_role: Role = Field("viewer", description="Role of a signed-in user with no mapping.")


class Settings(BaseSettings):
    """All of Flightdeck's settings."""

    model_config = SettingsConfigDict(env_prefix="FLIGHTDECK_", extra="forbid", frozen=True)

    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description="SQLAlchemy URL; default SQLite under `data/`, or `postgresql+psycopg://...`.",
    )
    production_environments: list[str] = Field(
        default_factory=lambda: ["production", "prod"],
        description="Environment names that count as production (case-insensitive).",
    )
    hotfix_patterns: list[str] = Field(
        default_factory=lambda: ["hotfix"],
        description="A deployment whose version or ref contains one of these is a hotfix.",
    )
    attribution_window_hours: Annotated[float, Field(gt=0)] = Field(
        24.0, description="How long before an incident a deployment may still have caused it."
    )
    test_suite_types: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "end-to-end": ["*e2e*", "*end_to_end*", "*end-to-end*", "*browser*"],
            "integration": ["*integration*"],
            "unit": ["*unit*"],
        },
        description="Test kinds: kind -> globs on the suite path or class name (first match wins).",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Log level of the CLI, worker and app."
    )
    services: dict[str, ServiceConfig] = Field(
        default_factory=dict, description="The service catalog, keyed by service name."
    )
    sources: dict[str, SourceConfig] = Field(
        default_factory=dict, description="Connections to collect from, keyed by connection name."
    )
    gates: list[GatePolicy] = Field(
        default_factory=list, description="Gate policies per (service, environment)."
    )
    backends: list[BackendConfig] = Field(
        default_factory=list,
        description="Deploy backends per (service, environment); the first match wins.",
    )
    notifications: list[NotificationConfig] = Field(
        default_factory=list, description="Announcements of release actions."
    )
    auth: AuthConfig = Field(default_factory=AuthConfig, description="Sign-in and roles.")
    roles: dict[str, Role] = Field(
        default_factory=dict, description="User (e-mail) to role, overriding the identity claim."
    )

    _lower_production = field_validator("production_environments", "hotfix_patterns")(
        _lowercase_all
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Read keyword arguments, then FLIGHTDECK_* variables, then the config file."""
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=config_file_path()),
        )


def config_file_path() -> Path:
    """Return the config file in use: `FLIGHTDECK_CONFIG`, or `flightdeck.toml` here."""
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_FILE)


def load_settings() -> Settings:
    """Build the Settings, turning every problem into one readable ConfigError.

    Raises:
        ConfigError: The config file is missing (when named explicitly), is not valid TOML,
            or a value is invalid; the message names the file, the key and the problem.
    """
    path = config_file_path()
    if os.environ.get(CONFIG_ENV) and not path.exists():
        msg = f"{CONFIG_ENV} names {path}, which does not exist"
        raise ConfigError(msg)
    try:
        return Settings()
    except tomllib.TOMLDecodeError as exc:
        msg = f"{path}: not valid TOML: {exc}"
        raise ConfigError(msg) from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors()
        )
        msg = f"invalid configuration ({path} or FLIGHTDECK_* variables): {problems}"
        raise ConfigError(msg) from exc
