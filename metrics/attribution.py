"""Attribution, the pure core: shipped commits, labels, incident links and failures.

Which commits each deployment shipped, what each deployment is (normal, rollback,
redeploy, hotfix), which deployment each incident is linked to, and which deployments
failed and when service was restored. DESIGN §4 "Terms" and
"Precisions" are implemented here, rule for rule; nothing here touches the database
(`metrics.derived` loads the records and stores the results).

Definitions, as implemented:

- Only successful deployments are passed in; the others are invisible to every rule.
- Stream: (service, environment compared case-insensitively), ordered by (finished_at,
  started_at, id, source); a missing started_at sorts first among equal finishes.
- Key: the version, or the sha where there is no version.
- Label (one per deployment): an explicit kind rollback / redeploy / hotfix wins;
  otherwise redeploy (same key as the deployment just before it), rollback (same key as
  any earlier one), hotfix (version or ref contains a configured pattern,
  case-insensitive), else normal.
- Shipped commits C(d) of a deployment that is neither rollback nor redeploy: its
  explicit `commits` list if given (taken as is: merges count, unknown shas count),
  otherwise `git log p..d` over the repository's commit records (merge commits excluded)
  where p is the deployment just before it and both shas have records, otherwise none;
  less every commit an earlier deployment of the stream already shipped.
- Incident link (production incidents only; same service, any production stream), the
  first rule that applies: `deployment_id` names a successful production deployment
  (same source first); the earliest production deployment whose C(d) or sha holds
  `root_cause_sha`; the latest non-rollback production deployment with that `version`;
  the latest non-rollback production deployment finished within the attribution window
  at or before `opened_at`.
- Failed deployment (non-rollback, production): (a) it is the deployment right after a
  rollback's target (the latest earlier deployment with the rollback's key), unless that
  one is itself a rollback; (b) a hotfix's `fixes` names it (an earlier deployment of the
  stream; otherwise the hotfix fails nothing), or, without `fixes`, it is the latest
  non-remediation deployment before the hotfix; (c) an incident is linked to it.
  Restored at the earliest of the remediations' finishes and, when every linked incident
  is resolved, the latest resolution.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from metrics.config import EngineConfig
from metrics.graph import CommitGraph

_EARLIEST = datetime.min.replace(tzinfo=UTC)


class Label(StrEnum):
    """What a deployment is, for the metrics."""

    normal = "normal"
    rollback = "rollback"
    redeploy = "redeploy"
    hotfix = "hotfix"


REMEDIATIONS = frozenset({Label.rollback, Label.hotfix})
_EXPLICIT = {"rollback": Label.rollback, "redeploy": Label.redeploy, "hotfix": Label.hotfix}


class LinkRule(StrEnum):
    """The rule that linked an incident to a deployment, in priority order."""

    deployment_id = "deployment_id"
    root_cause_sha = "root_cause_sha"
    version = "version"
    time_window = "time_window"


class FailureRule(StrEnum):
    """Why a deployment is a failed deployment."""

    rollback = "rollback"
    hotfix = "hotfix"
    incident = "incident"


@dataclass(frozen=True)
class DeploymentFacts:
    """A successful deployment, as the rules need it.

    Attributes:
        id: Database id.
        external_id: The source's id (what `fixes` and incidents' `deployment_id` name).
        environment: As recorded; streams compare it case-insensitively.
        commits: The source's explicit list of shipped shas, or None when not given.
    """

    id: int
    source: str
    external_id: str
    service: str
    environment: str
    finished_at: datetime
    started_at: datetime | None = None
    sha: str | None = None
    version: str | None = None
    ref: str | None = None
    repo: str | None = None
    kind: str = "normal"
    fixes: str | None = None
    commits: tuple[str, ...] | None = None

    @property
    def key(self) -> str | None:
        """The version, or the sha where there is no version."""
        return self.version if self.version is not None else self.sha

    @property
    def order(self) -> tuple[datetime, datetime, str, str]:
        """Position in the stream order (finished_at, started_at, id, source)."""
        return (self.finished_at, self.started_at or _EARLIEST, self.external_id, self.source)


@dataclass(frozen=True)
class IncidentFacts:
    """An incident, as the link rules need it."""

    id: int
    source: str
    external_id: str
    service: str
    opened_at: datetime
    environment: str | None = None
    resolved_at: datetime | None = None
    deployment: str | None = None
    root_cause_sha: str | None = None
    version: str | None = None


@dataclass(frozen=True)
class ShippedCommit:
    """One commit of C(d); `lead_time_us` is None when the commit has no record."""

    deployment_id: int
    repo: str
    sha: str
    lead_time_us: int | None


@dataclass(frozen=True)
class Cause:
    """One reason a deployment failed: the remediation deployment or the linked incident."""

    rule: FailureRule
    cause_id: int


@dataclass(frozen=True)
class DeploymentOutcome:
    """A successful production deployment with its label and, if it failed, why and until when."""

    deployment_id: int
    service: str
    finished_at: datetime
    label: Label
    causes: tuple[Cause, ...] = ()
    restored_at: datetime | None = None

    @property
    def failed(self) -> bool:
        """Whether any failure rule applies."""
        return bool(self.causes)

    @property
    def recovery_us(self) -> int | None:
        """Microseconds from the finish to the restoration, None while unrestored."""
        return None if self.restored_at is None else micros(self.restored_at - self.finished_at)


@dataclass(frozen=True)
class IncidentLink:
    """A production incident and the deployment it is linked to (None: unattributed)."""

    incident_id: int
    service: str
    opened_at: datetime
    resolved_at: datetime | None
    deployment_id: int | None
    rule: LinkRule | None

    @property
    def restore_us(self) -> int | None:
        """Microseconds from opening to resolution, None while unresolved."""
        return None if self.resolved_at is None else micros(self.resolved_at - self.opened_at)


@dataclass
class Attribution:
    """Everything attribution derives from one set of deployments and incidents.

    Attributes:
        shipped: C(d) of every deployment, all streams.
        labels: Label of every deployment, by id.
        deployments: One outcome per production deployment.
        incidents: One link per production incident.
    """

    shipped: list[ShippedCommit] = field(default_factory=list)
    labels: dict[int, Label] = field(default_factory=dict)
    deployments: list[DeploymentOutcome] = field(default_factory=list)
    incidents: list[IncidentLink] = field(default_factory=list)


def micros(delta: timedelta) -> int:
    """A timedelta as whole microseconds (exact)."""
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def attribute(
    deployments: Iterable[DeploymentFacts],
    incidents: Iterable[IncidentFacts],
    graphs: Mapping[str, CommitGraph],
    config: EngineConfig,
) -> Attribution:
    """Apply every rule of DESIGN §4 to successful deployments and incidents.

    Args:
        deployments: Successful deployments (any services and environments).
        incidents: Incidents of the same services (non-production ones are ignored).
        graphs: Commit graph of each repository the deployments name.
        config: Production environments, hotfix patterns and attribution window.

    Returns:
        Shipped commits, labels, production deployment outcomes and incident links.
    """
    result = Attribution()
    streams: dict[tuple[str, str], list[DeploymentFacts]] = defaultdict(list)
    for deployment in deployments:
        streams[deployment.service, deployment.environment.lower()].append(deployment)
    causes: dict[int, list[Cause]] = defaultdict(list)
    remedied_at: dict[int, datetime] = {}
    shipped_by: dict[int, list[str]] = {}
    production: dict[str, list[DeploymentFacts]] = defaultdict(list)
    for (service, environment), stream in streams.items():
        stream.sort(key=lambda d: d.order)
        labels = _label_stream(stream, config)
        result.labels.update((d.id, label) for d, label in zip(stream, labels, strict=True))
        for deployment, commits in _ship_stream(stream, labels, graphs):
            shipped_by[deployment.id] = [sha for _, sha in commits]
            graph = graphs.get(deployment.repo or "")
            for repo, sha in commits:
                authored = graph.authored.get(sha) if graph is not None else None
                lead = None if authored is None else micros(deployment.finished_at - authored)
                result.shipped.append(ShippedCommit(deployment.id, repo, sha, lead))
        if not config.is_production(service, environment):
            continue
        production[service].extend(stream)
        for failed, remediation, failure_rule in _remediated(stream, labels):
            causes[failed.id].append(Cause(failure_rule, remediation.id))
            previous = remedied_at.get(failed.id)
            if previous is None or remediation.finished_at < previous:
                remedied_at[failed.id] = remediation.finished_at

    linked: dict[int, list[IncidentFacts]] = defaultdict(list)
    by_service: dict[str, list[IncidentFacts]] = defaultdict(list)
    for incident in incidents:
        if config.is_production(incident.service, incident.environment):
            by_service[incident.service].append(incident)
    for service, service_incidents in by_service.items():
        linker = _Linker(production.get(service, []), result.labels, shipped_by, config)
        for incident in sorted(service_incidents, key=lambda i: (i.opened_at, i.id)):
            target, rule = linker.link(incident)
            result.incidents.append(
                IncidentLink(
                    incident.id,
                    service,
                    incident.opened_at,
                    incident.resolved_at,
                    None if target is None else target.id,
                    rule,
                )
            )
            if target is not None and result.labels[target.id] is not Label.rollback:
                causes[target.id].append(Cause(FailureRule.incident, incident.id))
                linked[target.id].append(incident)

    for service_deployments in production.values():
        for deployment in service_deployments:
            restored = remedied_at.get(deployment.id)
            incidents_of = linked.get(deployment.id, [])
            if incidents_of and all(i.resolved_at is not None for i in incidents_of):
                resolved = max(i.resolved_at for i in incidents_of if i.resolved_at is not None)
                restored = resolved if restored is None else min(restored, resolved)
            result.deployments.append(
                DeploymentOutcome(
                    deployment.id,
                    deployment.service,
                    deployment.finished_at,
                    result.labels[deployment.id],
                    tuple(causes.get(deployment.id, ())),
                    restored,
                )
            )
    return result


def _label_stream(stream: Sequence[DeploymentFacts], config: EngineConfig) -> list[Label]:
    labels: list[Label] = []
    seen: set[str] = set()
    previous: DeploymentFacts | None = None
    for deployment in stream:
        key = deployment.key
        if deployment.kind in _EXPLICIT:
            label = _EXPLICIT[deployment.kind]
        elif previous is not None and key is not None and key == previous.key:
            label = Label.redeploy
        elif key is not None and key in seen:
            label = Label.rollback
        elif config.is_hotfix_name(deployment.version, deployment.ref):
            label = Label.hotfix
        else:
            label = Label.normal
        labels.append(label)
        if key is not None:
            seen.add(key)
        previous = deployment
    return labels


def _ship_stream(
    stream: Sequence[DeploymentFacts], labels: Sequence[Label], graphs: Mapping[str, CommitGraph]
) -> Iterable[tuple[DeploymentFacts, list[tuple[str, str]]]]:
    """Yield each deployment with C(d) as (repo, sha) pairs, in stream order."""
    shipped: set[tuple[str, str]] = set()
    previous: DeploymentFacts | None = None
    for deployment, label in zip(stream, labels, strict=True):
        base, previous = previous, deployment
        if label in (Label.rollback, Label.redeploy):
            continue
        repo = deployment.repo or ""
        candidates: Iterable[str] = ()
        if deployment.commits is not None:
            candidates = deployment.commits
        elif base is not None and base.sha is not None and deployment.sha is not None:
            graph = graphs.get(repo)
            if graph is not None and deployment.sha in graph and base.sha in graph:
                candidates = [
                    sha
                    for sha in graph.only_in(deployment.sha, base.sha)
                    if not graph.is_merge(sha)
                ]
        commits = []
        for sha in candidates:
            if (repo, sha) not in shipped:
                shipped.add((repo, sha))
                commits.append((repo, sha))
        yield deployment, commits


def _remediated(
    stream: Sequence[DeploymentFacts], labels: Sequence[Label]
) -> Iterable[tuple[DeploymentFacts, DeploymentFacts, FailureRule]]:
    """Yield (failed deployment, remediation, rule) for rules (a) and (b) in one stream."""
    latest_with_key: dict[str, int] = {}
    for index, (deployment, label) in enumerate(zip(stream, labels, strict=True)):
        key = deployment.key
        if label is Label.rollback:
            target = latest_with_key.get(key) if key is not None else None
            # The target is earlier, so target + 1 <= index: at worst the rollback itself,
            # which (being a rollback) fails nothing.
            if target is not None and labels[target + 1] is not Label.rollback:
                yield stream[target + 1], deployment, FailureRule.rollback
        elif label is Label.hotfix:
            fixed = _fixed_by_hotfix(stream, labels, index)
            if fixed is not None:
                yield stream[fixed], deployment, FailureRule.hotfix
        if key is not None:
            latest_with_key[key] = index


def _fixed_by_hotfix(
    stream: Sequence[DeploymentFacts], labels: Sequence[Label], index: int
) -> int | None:
    hotfix = stream[index]
    if hotfix.fixes is not None:
        named = [j for j in range(index) if stream[j].external_id == hotfix.fixes]
        same_source = [j for j in named if stream[j].source == hotfix.source]
        chosen = same_source or named
        if chosen and labels[chosen[-1]] is not Label.rollback:
            return chosen[-1]
        return None
    for j in range(index - 1, -1, -1):
        if labels[j] not in REMEDIATIONS:
            return j
    return None


class _Linker:
    """The incident link rules over one service's production deployments."""

    def __init__(
        self,
        deployments: list[DeploymentFacts],
        labels: Mapping[int, Label],
        shipped_by: Mapping[int, list[str]],
        config: EngineConfig,
    ) -> None:
        ordered = sorted(deployments, key=lambda d: d.order)
        self.window = config.attribution_window
        self.by_external: dict[str, list[DeploymentFacts]] = defaultdict(list)
        self.first_with_sha: dict[str, DeploymentFacts] = {}
        self.latest_with_version: dict[str, DeploymentFacts] = {}
        self.non_rollbacks: list[DeploymentFacts] = []
        for deployment in ordered:
            self.by_external[deployment.external_id].append(deployment)
            shas = [*shipped_by.get(deployment.id, ()), deployment.sha]
            for sha in shas:
                if sha is not None:
                    self.first_with_sha.setdefault(sha.lower(), deployment)
            if labels[deployment.id] is not Label.rollback:
                self.non_rollbacks.append(deployment)
                if deployment.version is not None:
                    self.latest_with_version[deployment.version] = deployment
        self.finishes = [d.finished_at for d in self.non_rollbacks]

    def link(self, incident: IncidentFacts) -> tuple[DeploymentFacts | None, LinkRule | None]:
        if incident.deployment is not None:
            named = self.by_external.get(incident.deployment, [])
            same_source = [d for d in named if d.source == incident.source]
            if same_source or named:
                return (same_source or named)[0], LinkRule.deployment_id
        if incident.root_cause_sha is not None:
            found = self.first_with_sha.get(incident.root_cause_sha.lower())
            if found is not None:
                return found, LinkRule.root_cause_sha
        if incident.version is not None:
            found = self.latest_with_version.get(incident.version)
            if found is not None:
                return found, LinkRule.version
        position = bisect.bisect_right(self.finishes, incident.opened_at)
        if position:
            latest = self.non_rollbacks[position - 1]
            if latest.finished_at >= incident.opened_at - self.window:
                return latest, LinkRule.time_window
        return None, None
