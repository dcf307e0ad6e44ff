"""The normalized record types (DESIGN §3): what every source, import and webhook produces.

One pydantic model per `type`. Records are strict: unknown fields, wrong JSON types, unknown
statuses and timestamps without a zone are errors, because a silently dropped field or a
guessed time zone makes every metric downstream quietly wrong. `row()` gives the values
of the record's table; the writer adds what needs the database (a test case's build id).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    model_validator,
)
from pydantic_core import PydanticCustomError

from models import (
    Base,
    Build,
    Commit,
    Deployment,
    Incident,
    MonitorState,
    PullRequest,
    Service,
    TestCase,
)

BuildStatus = Literal["success", "failure", "cancelled", "running", "skipped"]
DeploymentStatus = Literal["success", "failure", "cancelled", "running"]
DeploymentKind = Literal["normal", "rollback", "hotfix", "redeploy"]
TestOutcome = Literal["passed", "failed", "error", "skipped"]
MonitorStateValue = Literal["ok", "warn", "alert", "no_data"]
IncidentStatus = Literal["open", "resolved"]


def json_kind(value: Any) -> str:
    """Name a value's JSON type the way a user reading their file would."""
    kinds = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    kinds |= {list: "a list", dict: "an object", type(None): "null"}
    return kinds.get(type(value), type(value).__name__)


# Parsed by pydantic-core (fast, RFC 3339); a time without a zone is an error, never a guess.
Timestamp = AwareDatetime
Text = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]
Sha = Annotated[
    str, StringConstraints(pattern=r"^[0-9a-fA-F]{4,64}$", to_lower=True, strip_whitespace=True)
]


class _Record(BaseModel):
    """Fields and behaviour shared by every record type."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    table: ClassVar[type[Base]]
    source: Text = "import"

    def row(self) -> dict[str, Any]:
        """Return the column values of this record's table row."""
        raise NotImplementedError


class ServiceRecord(_Record):
    """A service of the catalog, with the team that owns it."""

    table = Service
    type: Literal["service"]
    name: Text
    team: Text | None = None
    repos: list[Text] = Field(default_factory=list)
    tier: Text | None = None

    def row(self) -> dict[str, Any]:  # noqa: D102 - documented on _Record
        return {"name": self.name, "team": self.team, "repos": self.repos, "tier": self.tier}


class CommitRecord(_Record):
    """A commit with its parents (the edges of the commit graph)."""

    table = Commit
    type: Literal["commit"]
    repo: Text
    sha: Sha
    parents: list[Sha] | None = None
    author: str | None = None
    authored_at: Timestamp
    committed_at: Timestamp | None = None
    message: str | None = None

    def row(self) -> dict[str, Any]:  # noqa: D102 - documented on _Record
        first_line = self.message.splitlines()[0] if self.message else self.message
        return {
            "repo": self.repo,
            "sha": self.sha,
            "parents": self.parents or [],
            "author": self.author,
            "authored_at": self.authored_at,
            "committed_at": self.committed_at,
            "message": first_line,
        }


class PullRequestRecord(_Record):
    """A pull or merge request."""

    table = PullRequest
    type: Literal["pull_request"]
    repo: Text
    number: Annotated[int, Field(ge=1)]
    title: str | None = None
    author: str | None = None
    opened_at: Timestamp
    first_commit_at: Timestamp | None = None
    merged_at: Timestamp | None = None
    merge_commit_sha: Sha | None = None
    labels: list[str] = Field(default_factory=list)
    updated_at: Timestamp | None = None

    def row(self) -> dict[str, Any]:  # noqa: D102 - documented on _Record
        return {
            "repo": self.repo,
            "number": self.number,
            "title": self.title,
            "author": self.author,
            "opened_at": self.opened_at,
            "first_commit_at": self.first_commit_at,
            "merged_at": self.merged_at,
            "merge_commit_sha": self.merge_commit_sha,
            "labels": self.labels,
            "source_updated_at": self.updated_at,
        }


class BuildRecord(_Record):
    """A pipeline run."""

    table = Build
    type: Literal["build"]
    id: Text
    repo: Text | None = None
    service: Text | None = None
    pipeline: Text | None = None
    branch: Text | None = None
    sha: Sha | None = None
    status: BuildStatus
    status_raw: str | None = None
    started_at: Timestamp | None = None
    finished_at: Timestamp | None = None
    url: str | None = None
    updated_at: Timestamp | None = None

    @model_validator(mode="after")
    def _times_in_order(self) -> BuildRecord:
        _check_order(self.started_at, self.finished_at, "started_at", "finished_at")
        return self

    def row(self) -> dict[str, Any]:  # noqa: D102 - documented on _Record
        return {
            "source": self.source,
            "external_id": self.id,
            "repo": self.repo,
            "service": self.service,
            "pipeline": self.pipeline,
            "branch": self.branch,
            "sha": self.sha,
            "status": self.status,
            "status_raw": self.status_raw or self.status,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "url": self.url,
            "source_updated_at": self.updated_at,
        }


class TestCaseRecord(_Record):
    """One attempt of one test in a build; `source` and `build_id` name the build."""

    __test__ = False  # not a pytest test class, despite the name
    table = TestCase
    type: Literal["test_case"]
    build_id: Text
    suite: Text
    classname: str = ""
    name: Text
    attempt: Annotated[int, Field(ge=1)] = 1
    outcome: TestOutcome
    duration_s: Annotated[float, Field(ge=0)] | None = None
    message: str | None = None
    flaky: bool = False

    def row(self) -> dict[str, Any]:
        """Return the row without `build_id`, which the writer looks up."""
        return {
            "suite": self.suite,
            "classname": self.classname,
            "name": self.name,
            "attempt": self.attempt,
            "outcome": self.outcome,
            "duration_s": self.duration_s,
            "message": self.message,
            "flaky": self.flaky,
        }


class DeploymentRecord(_Record):
    """A deployment of a service to an environment."""

    table = Deployment
    type: Literal["deployment"]
    id: Text
    service: Text
    environment: Text
    sha: Sha | None = None
    ref: str | None = None
    version: Text | None = None
    repo: Text | None = None
    status: DeploymentStatus
    status_raw: str | None = None
    kind: DeploymentKind | None = None
    fixes: Text | None = None
    commits: list[Sha] | None = None
    started_at: Timestamp | None = None
    finished_at: Timestamp | None = None
    url: str | None = None
    actor: str | None = None
    updated_at: Timestamp | None = None

    @model_validator(mode="after")
    def _identified_and_finished(self) -> DeploymentRecord:
        if self.sha is None and self.version is None:
            raise PydanticCustomError("deployment_key", "a deployment needs a version or a sha")
        if self.finished_at is None and self.status != "running":
            raise PydanticCustomError(
                "deployment_unfinished",
                "missing field 'finished_at' (only a running deployment may omit it)",
            )
        _check_order(self.started_at, self.finished_at, "started_at", "finished_at")
        return self

    def row(self) -> dict[str, Any]:  # noqa: D102 - documented on _Record
        return {
            "source": self.source,
            "external_id": self.id,
            "service": self.service,
            "environment": self.environment,
            "sha": self.sha,
            "ref": self.ref,
            "version": self.version,
            "repo": self.repo,
            "status": self.status,
            "status_raw": self.status_raw or self.status,
            "kind": self.kind or "normal",
            "fixes": self.fixes,
            "commits": self.commits,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "url": self.url,
            "actor": self.actor,
            "source_updated_at": self.updated_at,
        }


class IncidentRecord(_Record):
    """An incident, with whatever the source knows about its cause."""

    table = Incident
    type: Literal["incident"]
    id: Text
    service: Text
    environment: Text | None = None
    severity: str | None = None
    title: str | None = None
    opened_at: Timestamp
    resolved_at: Timestamp | None = None
    status: IncidentStatus | None = None
    deployment_id: Text | None = None
    root_cause_sha: Sha | None = None
    version: Text | None = None
    url: str | None = None
    updated_at: Timestamp | None = None

    @model_validator(mode="after")
    def _resolved_after_opened(self) -> IncidentRecord:
        _check_order(self.opened_at, self.resolved_at, "opened_at", "resolved_at")
        return self

    def row(self) -> dict[str, Any]:  # noqa: D102 - documented on _Record
        return {
            "source": self.source,
            "external_id": self.id,
            "service": self.service,
            "environment": self.environment,
            "severity": self.severity,
            "title": self.title,
            "opened_at": self.opened_at,
            "resolved_at": self.resolved_at,
            "status": self.status or ("resolved" if self.resolved_at else "open"),
            "deployment": self.deployment_id,
            "root_cause_sha": self.root_cause_sha,
            "version": self.version,
            "url": self.url,
            "source_updated_at": self.updated_at,
        }


class MonitorStateRecord(_Record):
    """One observation of a monitor, SLO or error-rate series (a Flightdeck extension of §3)."""

    table = MonitorState
    type: Literal["monitor_state"]
    monitor: Text
    observed_at: Timestamp
    service: Text | None = None
    state: MonitorStateValue
    value: float | None = None
    url: str | None = None

    def row(self) -> dict[str, Any]:  # noqa: D102 - documented on _Record
        return {
            "source": self.source,
            "monitor": self.monitor,
            "observed_at": self.observed_at,
            "service": self.service,
            "state": self.state,
            "value": self.value,
            "url": self.url,
        }


def _check_order(
    first: datetime | None, then: datetime | None, first_name: str, then_name: str
) -> None:
    if first is not None and then is not None and then < first:
        raise PydanticCustomError(
            "time_order",
            "{then_name} ({then}) is before {first_name} ({first})",
            {
                "then_name": then_name,
                "then": then.isoformat(),
                "first_name": first_name,
                "first": first.isoformat(),
            },
        )


Record = (
    ServiceRecord
    | CommitRecord
    | PullRequestRecord
    | BuildRecord
    | TestCaseRecord
    | DeploymentRecord
    | IncidentRecord
    | MonitorStateRecord
)
RECORD_TYPES: dict[str, type[_Record]] = {
    "service": ServiceRecord,
    "commit": CommitRecord,
    "pull_request": PullRequestRecord,
    "build": BuildRecord,
    "test_case": TestCaseRecord,
    "deployment": DeploymentRecord,
    "incident": IncidentRecord,
    "monitor_state": MonitorStateRecord,
}
RECORD_ADAPTER: TypeAdapter[Record] = TypeAdapter(Annotated[Record, Field(discriminator="type")])
