"""A small language for delivery histories in tests: commits, deployments and incidents.

Times are hours after `T0` (a Monday, UTC); shas are written as short names (`c1`) and
turned into hex. Records go through the real record types and `RecordWriter`, exactly as
an import would store them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from ingest.records import (
    CommitRecord,
    DeploymentRecord,
    IncidentRecord,
    Record,
    ServiceRecord,
)
from ingest.writer import RecordWriter
from metrics import DoraSummary, EngineConfig, Filters, GroupBy, dora_summary

T0 = datetime(2026, 3, 2, tzinfo=UTC)
REPO = "acme/api"


def at(hours: float) -> datetime:
    """The time `hours` after T0."""
    return T0 + timedelta(hours=hours)


def sha(name: str) -> str:
    """A stable 12-digit hex sha for a readable name."""
    return hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:12]


@dataclass
class History:
    """Records of one test's world, written in the order they were added."""

    records: list[Record] = field(default_factory=list)

    def service(self, name: str, team: str | None = None) -> None:
        self.records.append(ServiceRecord(type="service", name=name, team=team))

    def commit(self, name: str, *parents: str, authored: float = 0.0, repo: str = REPO) -> None:
        self.records.append(
            CommitRecord(
                type="commit",
                repo=repo,
                sha=sha(name),
                parents=[sha(p) for p in parents],
                authored_at=at(authored),
            )
        )

    def chain(self, *names: str, authored: float = 0.0, repo: str = REPO) -> None:
        """Commits in a line, each the parent of the next; the first has no parent."""
        for index, name in enumerate(names):
            parents = (names[index - 1],) if index else ()
            self.commit(name, *parents, authored=authored, repo=repo)

    def deploy(
        self,
        id: str,
        finished: float,
        *,
        commit: str | None = None,
        version: str | None = None,
        environment: str = "production",
        service: str = "api",
        status: str = "success",
        kind: str | None = None,
        fixes: str | None = None,
        commits: list[str] | None = None,
        ref: str | None = None,
        started: float | None = None,
        repo: str = REPO,
        source: str = "import",
    ) -> None:
        values: dict[str, Any] = {
            "type": "deployment",
            "id": id,
            "source": source,
            "service": service,
            "environment": environment,
            "sha": sha(commit) if commit else None,
            "version": version,
            "repo": repo,
            "status": status,
            "kind": kind,
            "fixes": fixes,
            "commits": None if commits is None else [sha(c) for c in commits],
            "ref": ref,
            "started_at": at(started) if started is not None else None,
            "finished_at": at(finished),
        }
        self.records.append(DeploymentRecord(**values))

    def incident(
        self,
        id: str,
        opened: float,
        resolved: float | None = None,
        *,
        service: str = "api",
        environment: str | None = "production",
        deployment: str | None = None,
        root_cause: str | None = None,
        version: str | None = None,
        source: str = "import",
    ) -> None:
        self.records.append(
            IncidentRecord(
                type="incident",
                id=id,
                source=source,
                service=service,
                environment=environment,
                opened_at=at(opened),
                resolved_at=at(resolved) if resolved is not None else None,
                deployment_id=deployment,
                root_cause_sha=sha(root_cause) if root_cause else None,
                version=version,
            )
        )

    def write(self, sessions: sessionmaker[Session]) -> None:
        with sessions.begin() as session:
            writer = RecordWriter(session)
            for record in self.records:
                writer.add(record)
            writer.flush()
        self.records.clear()


def summarize(
    sessions: sessionmaker[Session],
    since: float = 0,
    until: float = 24 * 30,
    *,
    by: GroupBy | None = None,
    config: EngineConfig | None = None,
    **filters: Any,
) -> DoraSummary:
    """The summary over `[at(since), at(until))`, refreshed and committed like the CLI does."""
    with sessions.begin() as session:
        return dora_summary(
            session,
            Filters(since=at(since), until=at(until), config=config or EngineConfig(), **filters),
            by=by,
        )


def hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600
