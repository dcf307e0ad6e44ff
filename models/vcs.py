"""Version control: commits (with their parents, which form the commit graph) and pull requests."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, JSONValue


class Commit(Base):
    """One commit of a repository; `parents` links it into the graph the metrics walk."""

    __tablename__ = "commits"
    __table_args__ = (UniqueConstraint("repo", "sha"),)
    natural_key = ("repo", "sha")

    id: Mapped[int] = mapped_column(primary_key=True)
    repo: Mapped[str] = mapped_column(String(255))
    sha: Mapped[str] = mapped_column(String(64))
    parents: Mapped[list[str]] = mapped_column(JSONValue, default=list)
    author: Mapped[str | None] = mapped_column(String(255))
    authored_at: Mapped[datetime]
    committed_at: Mapped[datetime | None]
    message: Mapped[str | None] = mapped_column(Text)


class PullRequest(Base):
    """A pull or merge request; its times split lead time into coding, review and waiting."""

    __tablename__ = "pull_requests"
    __table_args__ = (UniqueConstraint("repo", "number"), Index(None, "merged_at"))
    natural_key = ("repo", "number")
    update_time = "source_updated_at"

    id: Mapped[int] = mapped_column(primary_key=True)
    repo: Mapped[str] = mapped_column(String(255))
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(String(255))
    opened_at: Mapped[datetime]
    first_commit_at: Mapped[datetime | None]
    merged_at: Mapped[datetime | None]
    merge_commit_sha: Mapped[str | None] = mapped_column(String(64))
    labels: Mapped[list[str]] = mapped_column(JSONValue, default=list)
    source_updated_at: Mapped[datetime | None]
