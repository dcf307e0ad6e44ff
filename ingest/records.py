"""The normalized record types (DESIGN §3): what every source, import and webhook produces.

One pydantic model per `type`. Records are strict: unknown fields, wrong JSON types, unknown
statuses and timestamps without a zone are errors, because a silently dropped field or a
guessed time zone makes every metric downstream quietly wrong. `row()` gives the values
of the record's table; the writer adds what needs the database (a test case's build id).
"""

from __future__ import annotations

from datetime import datetime
from operator import itemgetter
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
    """Fields and behaviour shared by every record type.

    A record's fields are its table's columns, but for `type`, the fields in `not_stored`,
    and the fields `renames` stores under another name (the source's `id` is the row's
    `external_id`; its `updated_at` is `source_updated_at`, what last-writer-wins compares).
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    table: ClassVar[type[Base]]
    renames: ClassVar[dict[str, str]] = {"id": "external_id", "updated_at": "source_updated_at"}
    not_stored: ClassVar[frozenset[str]] = frozenset()
    _columns: ClassVar[tuple[str, ...]] = ()
    _stored_values: ClassVar[itemgetter[Any]]

    source: Text = "import"

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        """Work out once per record type which field fills which column."""
        super().__pydantic_init_subclass__(**kwargs)
        skipped = cls.not_stored | {"type"}
        stored = [name for name in cls.model_fields if name not in skipped]
        cls._columns = tuple(cls.renames.get(name, name) for name in stored)
        # Every record type stores at least two fields, so itemgetter returns a tuple.
        cls._stored_values = itemgetter(*stored)

    def row(self) -> dict[str, Any]:
        """Return the column values of this record's table row."""
        # One C-level pass over the instance dict, where the field values live: this runs
        # once per imported record.
        return dict(zip(self._columns, self._stored_values(self.__dict__), strict=True))


class ServiceRecord(_Record):
    """A service of the catalog, with the team that owns it."""

    table = Service
    not_stored = frozenset({"source"})
    type: Literal["service"]
    name: Text
    team: Text | None = None
    repos: list[Text] = Field(default_factory=list)
    tier: Text | None = None


class CommitRecord(_Record):
    """A commit with its parents (the edges of the commit graph)."""

    table = Commit
    not_stored = frozenset({"source"})
    type: Literal["commit"]
    repo: Text
    sha: Sha
    parents: list[Sha] | None = None
    author: str | None = None
    authored_at: Timestamp
    committed_at: Timestamp | None = None
    message: str | None = None

    def row(self) -> dict[str, Any]:
        """Return the row, with no parents as `[]` and only the message's first line."""
        first_line = self.message.splitlines()[0] if self.message else self.message
        return super().row() | {"parents": self.parents or [], "message": first_line}


class PullRequestRecord(_Record):
    """A pull or merge request."""

    table = PullRequest
    not_stored = frozenset({"source"})
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

    def row(self) -> dict[str, Any]:
        """Return the row; the raw status defaults to the normalized one."""
        return super().row() | {"status_raw": self.status_raw or self.status}


class TestCaseRecord(_Record):
    """One attempt of one test in a build; `source` and `build_id` name the build."""

    __test__ = False  # not a pytest test class, despite the name
    table = TestCase
    # The build's (source, build_id) become the row's build id; the writer looks it up.
    not_stored = frozenset({"source", "build_id"})
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

    def row(self) -> dict[str, Any]:
        """Return the row; no kind means `normal`, the raw status defaults to the status."""
        return super().row() | {
            "status_raw": self.status_raw or self.status,
            "kind": self.kind or "normal",
        }


class IncidentRecord(_Record):
    """An incident, with whatever the source knows about its cause."""

    table = Incident
    renames = _Record.renames | {"deployment_id": "deployment"}
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

    def row(self) -> dict[str, Any]:
        """Return the row; without a status, an incident with `resolved_at` is resolved."""
        return super().row() | {
            "status": self.status or ("resolved" if self.resolved_at else "open")
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
