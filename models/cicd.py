"""CI/CD: builds, the test cases they ran, deployments and the commits each deployment shipped."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, JSONValue


class Build(Base):
    """One pipeline run (a GitHub workflow run, GitLab pipeline, Jenkins build...)."""

    __tablename__ = "builds"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        Index(None, "repo", "sha"),
        Index(None, "service", "finished_at"),
    )
    natural_key = ("source", "external_id")
    update_time = "source_updated_at"

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(100))
    external_id: Mapped[str] = mapped_column(String(255))
    repo: Mapped[str | None] = mapped_column(String(255))
    service: Mapped[str | None] = mapped_column(String(200))
    pipeline: Mapped[str | None] = mapped_column(String(255))
    branch: Mapped[str | None] = mapped_column(String(255))
    sha: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))
    status_raw: Mapped[str | None] = mapped_column(String(50))
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    url: Mapped[str | None] = mapped_column(Text)
    source_updated_at: Mapped[datetime | None]


class TestCase(Base):
    """One attempt of one test in one build; `flaky` marks a failure that later passed."""

    __tablename__ = "test_cases"
    __test__ = False  # not a pytest test class, despite the name
    __table_args__ = (UniqueConstraint("build_id", "suite", "classname", "name", "attempt"),)
    natural_key = ("build_id", "suite", "classname", "name", "attempt")

    id: Mapped[int] = mapped_column(primary_key=True)
    build_id: Mapped[int] = mapped_column(ForeignKey("builds.id", ondelete="CASCADE"))
    suite: Mapped[str] = mapped_column(String(500))
    classname: Mapped[str] = mapped_column(String(500))
    name: Mapped[str] = mapped_column(String(500))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    outcome: Mapped[str] = mapped_column(String(10))
    duration_s: Mapped[float | None] = mapped_column(Float)
    message: Mapped[str | None] = mapped_column(Text)
    flaky: Mapped[bool] = mapped_column(Boolean, default=False)


class Deployment(Base):
    """A deployment of a service to an environment, as the deploying system reported it.

    `kind` is the source's label (`normal` when it gave none); rollbacks, redeploys and
    hotfixes are also inferred by the DORA engine. `commits` is the source's explicit list
    of shipped shas: NULL means "not given" (use the commit graph), `[]` means "none".
    """

    __tablename__ = "deployments"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        Index(None, "service", "environment", "finished_at"),
        # The DORA engine's change check reads these two from indexes only (0002_metrics).
        Index(None, "status"),
        Index(None, "source_updated_at"),
    )
    natural_key = ("source", "external_id")
    update_time = "source_updated_at"

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(100))
    external_id: Mapped[str] = mapped_column(String(255))
    service: Mapped[str] = mapped_column(String(200))
    environment: Mapped[str] = mapped_column(String(100))
    sha: Mapped[str | None] = mapped_column(String(64))
    ref: Mapped[str | None] = mapped_column(String(255))
    version: Mapped[str | None] = mapped_column(String(255))
    repo: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20))
    status_raw: Mapped[str | None] = mapped_column(String(50))
    kind: Mapped[str] = mapped_column(String(20), default="normal")
    fixes: Mapped[str | None] = mapped_column(String(255))
    commits: Mapped[list[str] | None] = mapped_column(JSONValue)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    url: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(String(255))
    source_updated_at: Mapped[datetime | None]


class DeploymentCommit(Base):
    """Derived: a commit that `deployment` shipped first (DESIGN §4, shipped commits C(d)).

    `lead_time_us` is the deployment's finish minus the commit's `authored_at`, in
    microseconds; NULL when the commit has no record (it was shipped but gives no sample).
    """

    __tablename__ = "deployment_commits"
    __table_args__ = (
        UniqueConstraint("deployment_id", "repo", "sha"),
        Index(None, "repo", "sha"),
        # Lead-time queries read the samples of a deployment from this index alone.
        Index(None, "deployment_id", "lead_time_us"),
    )
    natural_key = ("deployment_id", "repo", "sha")

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"))
    repo: Mapped[str] = mapped_column(String(255))
    sha: Mapped[str] = mapped_column(String(64))
    lead_time_us: Mapped[int | None] = mapped_column(BigInteger)
