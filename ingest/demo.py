"""The demo organisation: a deterministic, realistic delivery history as normalized records.

`generate` simulates an engineering organisation (teams, services, people) shipping through
CI/CD over the `scale.days` days before `end`, and yields the records a real set of
collectors would have produced: services, commits (a main line per repository plus feature
branches joined by real merge commits), pull requests, builds with their test cases (flaky
ones included), staging and production deployments (with rollbacks, hotfixes, redeploys and
failed rollouts), incidents (linked to their deployment by every hint the DORA engine knows,
or by none) and monitor states. `write_demo` stores that stream through the `RecordWriter`.

Invariants the metrics and pages rely on:
- Same `seed` and `end`, same records in the same order: all randomness comes from one
  `random.Random(seed)` (never the global generator, the clock, or salted `hash()`).
- Every time lies in `[end - scale.days, end)`; what would finish later is still running
  (builds, deployments) or still open (incidents, pull requests).
- Parents come before children in the stream: a commit before its build and before any
  deployment naming it, a build before its test cases, a deployment before its incident.
- Each service follows one velocity profile aimed at a DORA tier (elite to low), so the
  metrics have spread. The tricky cases (explicit and inferred rollbacks and redeploys,
  hotfixes with and without `fixes`, each kind of incident link hint) come from org-wide
  rotations rather than dice, so even the small scale contains every one of them.

Each service is simulated as a time-ordered event queue, one service after the other, so
memory depends on one service's history, never on the number of services.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import string
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Generic, Literal, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from ingest.records import (
    BuildRecord,
    CommitRecord,
    DeploymentKind,
    DeploymentRecord,
    DeploymentStatus,
    IncidentRecord,
    MonitorStateRecord,
    MonitorStateValue,
    PullRequestRecord,
    Record,
    ServiceRecord,
    TestCaseRecord,
)
from ingest.writer import RecordWriter, bulk_writing

SOURCE = "demo"
ORG = "acme"
STAGING, PRODUCTION = "staging", "production"
DEPLOY_BOT = "deploy-bot"

# Average commits a pull request adds to the repository: its branch commits plus the merge.
BRANCH_COMMIT_WEIGHTS = {1: 0.2, 2: 0.35, 3: 0.3, 4: 0.15}
COMMITS_PER_PULL_REQUEST = 1 + sum(n * w for n, w in BRANCH_COMMIT_WEIGHTS.items())

BUILD_FAILURE_CHANCE = 0.10
BUILD_CANCEL_CHANCE = 0.02
ROLLOUT_FAILURE_CHANCE = 0.03
ROLLOUT_CANCEL_CHANCE = 0.01
FLAKE_CHANCE = 0.15
REDEPLOY_CHANCE = 0.05
EXPLICIT_COMMITS_CHANCE = 0.15
UNRELATED_INCIDENT_CHANCE = 0.04
# Unrelated incidents keep this far from the last production deployment, beyond the DORA
# engine's default 24 h attribution window, so they stay unattributed.
UNRELATED_INCIDENT_GAP = timedelta(hours=26)
# Every n-th service has an incident still open at `end`, so "open incident" states exist.
ONGOING_INCIDENT_EVERY = 3
WORKDAY_HOURS = (8, 19)


@dataclass(frozen=True)
class Scale:
    """How big the demo organisation is and how much history it has.

    Attributes:
        services: Number of services (teams are formed of about five services each).
        days: Length of the history, ending at `generate`'s `end`.
        commits_per_workday: Average commits per service on a weekday, before the service's
            velocity factor.
        weekend_factor: Weekend activity relative to a weekday.
        tests_per_build: Size of each service's test catalog, which every build runs.
        monitor_interval: Time between two observations of one monitor.
    """

    services: int
    days: int
    commits_per_workday: float = 7.0
    weekend_factor: float = 0.2
    tests_per_build: int = 10
    monitor_interval: timedelta = timedelta(hours=6)

    def __post_init__(self) -> None:
        if self.services < 1 or self.days < 1:
            msg = f"a demo needs at least one service and one day, not {self}"
            raise ValueError(msg)
        if self.tests_per_build < 8:
            msg = "tests_per_build must be at least 8 (room for skipped and flaky tests)"
            raise ValueError(msg)


SCALES: dict[str, Scale] = {
    "small": Scale(services=5, days=90, monitor_interval=timedelta(hours=1)),
    "medium": Scale(services=50, days=365),
    "large": Scale(services=200, days=730),
}


@dataclass(frozen=True)
class Velocity:
    """How one service ships; each profile aims its service at one DORA tier.

    Attributes:
        tier: The DORA tier the profile aims at.
        commit_factor: Multiplies the scale's commit rate.
        review_hours: Median hours from a branch's last commit to its merge.
        stage_chance: Chance that a green main build is deployed to staging.
        release_hours: UTC hours of each weekday's production release slots.
        release_chance: Chance that a release slot ships the newest staged version.
        bad_chance: Chance that a production release goes wrong.
        detect_hours: Range of hours from a bad release to its incident.
        recover_hours: Range of hours from the incident to the remediation.
    """

    tier: str
    commit_factor: float
    review_hours: float
    stage_chance: float
    release_hours: tuple[int, ...]
    release_chance: float
    bad_chance: float
    detect_hours: tuple[float, float]
    recover_hours: tuple[float, float]


ELITE = Velocity("elite", 1.4, 1.5, 0.9, (9, 11, 13, 15, 17), 0.85, 0.03, (0.08, 0.3), (0.1, 0.4))
HIGH = Velocity("high", 1.1, 10.0, 0.5, (15,), 0.55, 0.08, (0.2, 3.0), (1.0, 12.0))
MEDIUM = Velocity("medium", 0.8, 72.0, 0.35, (14,), 0.12, 0.13, (0.5, 6.0), (12.0, 120.0))
LOW = Velocity("low", 0.6, 240.0, 0.3, (14,), 0.025, 0.22, (1.0, 12.0), (120.0, 480.0))
# Services take profiles in this order, so every tier appears from five services on.
VELOCITY_ORDER = (ELITE, HIGH, MEDIUM, LOW, HIGH, ELITE, MEDIUM, HIGH, LOW, MEDIUM)


@dataclass(frozen=True)
class _Remedy:
    """What the team does about a bad production release."""

    action: Literal["rollback", "hotfix", "none"]
    explicit: bool  # the deployment says its kind; otherwise the engine must infer it
    depth: int = 1  # how many distinct versions a rollback goes back
    names_fixed: bool = False  # a hotfix's `fixes` names the bad deployment


REMEDIES = (
    _Remedy("rollback", explicit=True),
    _Remedy("rollback", explicit=False),
    _Remedy("rollback", explicit=True, depth=2),
    _Remedy("hotfix", explicit=True, names_fixed=True),
    _Remedy("hotfix", explicit=False),
    _Remedy("hotfix", explicit=True),
    _Remedy("hotfix", explicit=False, names_fixed=True),
    # Fixed forward by a configuration change: the incident resolves, no deployment.
    _Remedy("none", explicit=False),
)
# How a bad release's incident points at it; "window" gives no hint (time attribution) and
# "silent" means the team remediated without opening an incident.
LinkHint = Literal["deployment", "root_cause", "version", "window", "silent"]
LINK_HINTS: tuple[LinkHint, ...] = (
    "deployment",
    "root_cause",
    "version",
    "window",
    "window",
    "silent",
)
REDEPLOY_KINDS: tuple[DeploymentKind | None, ...] = ("redeploy", None)

TEAMS = (
    "payments", "platform", "growth", "data", "mobile", "identity", "search", "checkout",
    "catalog", "orders", "fulfillment", "logistics", "support", "messaging", "risk", "ml",
    "infra", "observability", "storage", "devex", "security", "partners", "pricing", "ads",
    "content", "media", "analytics", "compliance", "billing", "accounts", "notifications",
    "inventory", "shipping", "reviews", "loyalty", "marketplace", "maps", "scheduling",
    "reporting", "integrations",
)  # fmt: skip
COMPONENTS = (
    "api", "worker", "web", "gateway", "scheduler", "events", "sync", "admin", "store",
    "importer", "notifier", "reports",
)  # fmt: skip
FIRST_NAMES = (
    "ana", "ben", "chen", "dana", "eli", "fatima", "gus", "hana", "ivan", "jo", "kai", "lena",
    "mo", "nia", "omar", "priya", "quinn", "rosa", "sam", "tariq", "uma", "vik", "wen", "xavi",
    "yara", "zoe",
)  # fmt: skip
SERVICE_TIERS = ("tier-1", "tier-2", "tier-3")
MODULES = (
    "auth", "billing", "cache", "client", "config", "db", "events", "export", "handlers",
    "ledger", "models", "permissions", "queue", "rate_limit", "retry", "routing", "schema",
    "search", "serializers", "sessions", "storage", "tasks", "validation", "webhooks",
)  # fmt: skip
BEHAVIOURS = (
    "handles_empty_input", "rejects_invalid_token", "retries_on_timeout",
    "returns_404_for_unknown_id", "paginates_results", "rounds_currency",
    "expires_stale_entries", "emits_event_on_update", "is_idempotent", "respects_rate_limit",
    "serializes_timestamps_in_utc", "rolls_back_on_error", "skips_disabled_accounts",
    "orders_by_created_at", "validates_required_fields", "merges_partial_updates",
    "caches_lookups", "streams_large_exports",
)  # fmt: skip
# Test kinds with their share of the catalog and median duration in seconds.
TEST_KINDS = (("unit", 0.6, 0.04), ("integration", 0.25, 0.9), ("e2e", 0.15, 7.0))
LABEL_WEIGHTS = {"feature": 0.45, "bug": 0.3, "chore": 0.2, "": 0.05}
TITLES = {
    "feature": ("Add {m} export endpoint", "Support bulk {m} updates", "Introduce {m} caching"),
    "bug": ("Fix timezone handling in {m}", "Handle empty {m} payloads", "Fix race in {m} retry"),
    "chore": ("Refactor {m} module", "Bump dependencies for {m}", "Clean up {m} tests"),
    "": ("Tweak {m} logging", "Document {m} settings"),
}
FOLLOW_UPS = ("Address review comments", "Add tests", "Fix lint", "Update docs", "Simplify {m}")
ASSERTIONS = (
    "AssertionError: expected status 200, got 500",
    "AssertionError: assert 3 == 2",
    "AssertionError: assert 'EUR' == 'USD'",
    "AssertionError: expected event 'updated' to be emitted",
)
FLAKE_MESSAGE = "AssertionError: timed out after 5.0s waiting for the worker"
SKIP_MESSAGE = "skipped: needs a live sandbox account"
INCIDENT_TITLES = (
    "Elevated 5xx rate on {s}",
    "{s} p99 latency above SLO",
    "{s} error budget burning fast",
    "Timeouts calling {s}",
)
SEVERITY_WEIGHTS = {"sev1": 0.05, "sev2": 0.2, "sev3": 0.45, "sev4": 0.3}
MonitorKind = Literal["latency_p99", "error_rate", "slo.availability"]
# Value ranges per monitor kind and state; latency is scaled by the service's baseline.
MONITOR_RANGES: dict[MonitorKind, dict[MonitorStateValue, tuple[float, float]]] = {
    "latency_p99": {"ok": (0.8, 1.2), "warn": (1.5, 2.5), "alert": (3.0, 8.0)},
    "error_rate": {"ok": (0.0005, 0.01), "warn": (0.02, 0.05), "alert": (0.05, 0.3)},
    "slo.availability": {"ok": (99.9, 100.0), "warn": (99.5, 99.9), "alert": (97.0, 99.5)},
}
MONITOR_WARN_CHANCE = 0.015
MONITOR_NO_DATA_CHANCE = 0.005


def generate(scale: Scale, *, seed: int, end: datetime) -> Iterator[Record]:
    """Yield the demo organisation's records for the `scale.days` days before `end`.

    Args:
        scale: Size of the organisation and of its history.
        seed: Seed of the one random generator; same seed and end, same records.
        end: Exclusive end of the history; must be timezone-aware.

    Yields:
        Service records first, then each service's history, parents before children.

    Raises:
        ValueError: `end` has no time zone.
    """
    if end.tzinfo is None:
        msg = f"end must be timezone-aware, got {end.isoformat()}"
        raise ValueError(msg)
    end = end.astimezone(UTC)
    rng = random.Random(seed)  # noqa: S311 - demo data must be reproducible, not secret
    services = _plan_services(scale, rng)
    rotations = _Rotations(rng)
    for plan in services:
        yield ServiceRecord.model_construct(
            type="service",
            source=SOURCE,
            name=plan.name,
            team=plan.team,
            repos=[plan.repo],
            tier=plan.tier,
        )
    for plan in services:
        yield from _ServiceHistory(plan, scale, end, rotations).records()


def write_demo(
    sessions: sessionmaker[Session], scale: Scale, *, seed: int, end: datetime
) -> Counter[str]:
    """Store the demo organisation in one transaction, streaming through `RecordWriter`.

    Writing the same demo again leaves the database unchanged (every row is upserted on its
    natural key).

    Args:
        sessions: Factory of the sessions on the target database.
        scale: Size of the organisation and of its history.
        seed: Seed of the generator.
        end: Exclusive end of the history; must be timezone-aware.

    Returns:
        Rows written per table.
    """
    with bulk_writing(), sessions.begin() as session:
        writer = RecordWriter(session)
        for record in generate(scale, seed=seed, end=end):
            writer.add(record)
        writer.flush()
    return writer.written


@dataclass(frozen=True)
class _ServicePlan:
    """One service of the organisation, decided before any history is simulated."""

    name: str
    team: str
    tier: str
    velocity: Velocity
    people: tuple[str, ...]
    seed: int
    ongoing_incident: bool

    @property
    def repo(self) -> str:
        return f"{ORG}/{self.name}"


def _plan_services(scale: Scale, rng: random.Random) -> list[_ServicePlan]:
    team_count = min(scale.services, max(2, scale.services // 5))
    teams = [
        TEAMS[t % len(TEAMS)] + (f"-{t // len(TEAMS) + 1}" if t >= len(TEAMS) else "")
        for t in range(team_count)
    ]
    team_sizes = Counter(i % team_count for i in range(scale.services))
    headcounts = [rng.randint(4, 8) for _ in range(team_count)]
    people = iter(_people(rng, sum(headcounts)))
    # A team's people and components are drawn once, then handed to its services in turn.
    members = [tuple(itertools.islice(people, n)) for n in headcounts]
    components = [rng.sample(COMPONENTS, team_sizes[t]) for t in range(team_count)]
    plans = []
    for index in range(scale.services):
        team = index % team_count
        plans.append(
            _ServicePlan(
                name=f"{teams[team]}-{components[team][index // team_count]}",
                team=teams[team],
                tier=rng.choices(SERVICE_TIERS, weights=(0.3, 0.5, 0.2))[0],
                velocity=VELOCITY_ORDER[index % len(VELOCITY_ORDER)],
                people=members[team],
                seed=rng.getrandbits(64),
                ongoing_incident=index % ONGOING_INCIDENT_EVERY == 0,
            )
        )
    return plans


def _people(rng: random.Random, count: int) -> list[str]:
    """Return `count` distinct handles such as `dana-k`."""
    pool = [f"{first}-{initial}" for first in FIRST_NAMES for initial in string.ascii_lowercase]
    rng.shuffle(pool)
    return [
        pool[i % len(pool)] + (str(i // len(pool)) if i >= len(pool) else "") for i in range(count)
    ]


T = TypeVar("T")
K = TypeVar("K")


class _Rotation(Generic[T]):
    """Cycles through shuffled choices, so that every choice appears, also in a small demo."""

    def __init__(self, rng: random.Random, choices: Sequence[T]) -> None:
        shuffled = list(choices)
        rng.shuffle(shuffled)
        self._cycle = itertools.cycle(shuffled)

    def next(self) -> T:
        return next(self._cycle)


class _Rotations:
    """The organisation-wide rotations of the cases the metrics must handle."""

    def __init__(self, rng: random.Random) -> None:
        self.remedies = _Rotation(rng, REMEDIES)
        self.hints = _Rotation(rng, LINK_HINTS)
        self.redeploy_kinds = _Rotation(rng, REDEPLOY_KINDS)


@dataclass(frozen=True)
class _TestSpec:
    """One test of a service's catalog."""

    suite: str
    classname: str
    name: str
    log_median_s: float
    flaky: bool = False
    skipped: bool = False


@dataclass(frozen=True)
class _Monitor:
    """One monitor of a service, with its value range per state."""

    name: str
    ranges: dict[MonitorStateValue, tuple[float, float]]


@dataclass
class _Branch:
    """A feature branch and its pull request, while it is being worked on."""

    number: int
    name: str
    author: str
    title: str
    labels: list[str]
    head: str
    commits_left: int
    first_commit_at: datetime
    opened_at: datetime
    shas: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Staged:
    """The newest version that reached staging."""

    version: str
    sha: str
    main_index: int


@dataclass(frozen=True)
class _Live:
    """A successful production deployment: what ran in production from its finish on."""

    id: str
    version: str
    sha: str
    main_index: int  # position of the main-line commit it is built on
    finished_at: datetime


Event = tuple[datetime, int, Callable[[], Iterable[Record]]]


class _ServiceHistory:
    """Simulates one service as a queue of timed events, yielding records as they happen."""

    def __init__(
        self, plan: _ServicePlan, scale: Scale, end: datetime, rotations: _Rotations
    ) -> None:
        self.plan = plan
        self.scale = scale
        self.velocity = plan.velocity
        self.start = end - timedelta(days=scale.days)
        self.end = end
        self.rotations = rotations
        self.rng = random.Random(plan.seed)  # noqa: S311 - demo data must be reproducible
        self.modules = self.rng.sample(MODULES, 6)
        self.catalog = self._test_catalog()
        self.breakable = [spec for spec in self.catalog if not (spec.flaky or spec.skipped)]
        self.monitors = self._monitors()
        self._events: list[Event] = []
        self._sequence = itertools.count()
        self._builds = itertools.count(1)
        self._deployments = {STAGING: itertools.count(1), PRODUCTION: itertools.count(1)}
        self._incidents = itertools.count(1)
        self._pull_requests = itertools.count(self.rng.randint(1, 400))
        self._open_branches: dict[int, _Branch] = {}
        # The main line, oldest first: each commit's sha and the branch commits it merged.
        self._main_line: list[tuple[str, tuple[str, ...]]] = []
        self._main_index: dict[str, int] = {}
        self._version = [self.rng.choice((0, 1, 1, 2)), self.rng.randint(0, 12), 0]
        self._staged: _Staged | None = None
        self._production: list[_Live] = []
        self._released_index = -1  # main-line position of the newest release
        self._frozen = False  # a bad release is being dealt with: no releases meanwhile
        self._incident_windows: list[tuple[datetime, datetime]] = []

    def records(self) -> Iterator[Record]:
        """Yield the service's whole history."""
        root = self._commit(self.start, [], self.plan.people[0], "Initial commit", self.start)
        self._extend_main(root.sha, ())
        yield root
        # Called, not scheduled: the first day begins before `start`, yet its plan must run.
        self._plan_day(self.start.replace(hour=0, minute=0, second=0, microsecond=0))
        while self._events:
            _, _, handler = heapq.heappop(self._events)
            yield from handler()
        yield from self._unmerged_pull_requests()
        if self.plan.ongoing_incident:
            opened = self.end - _hours(self.rng.uniform(1, 12))
            yield self._incident(opened, None, environment=PRODUCTION)
        yield from self._monitor_states()

    # Scheduling

    def _at(self, when: datetime, handler: Callable[..., Iterable[Record]], *args: Any) -> None:
        """Schedule `handler(when, *args)`; events outside the history never happen."""
        if self.start <= when < self.end:
            event: Event = (when, next(self._sequence), partial(handler, when, *args))
            heapq.heappush(self._events, event)

    def _plan_day(self, day: datetime) -> Iterable[Record]:
        """Schedule one calendar day's work, releases and unrelated incidents."""
        workday = day.weekday() < 5
        activity = 1.0 if workday else self.scale.weekend_factor
        rate = self.scale.commits_per_workday * self.velocity.commit_factor * activity
        first_hour, last_hour = WORKDAY_HOURS
        for _ in range(_poisson(self.rng, rate / COMMITS_PER_PULL_REQUEST)):
            self._at(day + _hours(self.rng.uniform(first_hour, last_hour)), self._start_branch)
        if workday:
            for hour in self.velocity.release_hours:
                if self.rng.random() < self.velocity.release_chance:
                    self._at(day + _hours(hour + self.rng.random()), self._release)
        if self.rng.random() < UNRELATED_INCIDENT_CHANCE:
            self._at(day + _hours(self.rng.uniform(0, 24)), self._unrelated_incident)
        self._at(day + timedelta(days=1), self._plan_day)
        return ()

    # Version control and CI

    def _sha(self) -> str:
        return f"{self.rng.getrandbits(160):040x}"

    def _commit(
        self, at: datetime, parents: list[str], author: str, message: str, authored_at: datetime
    ) -> CommitRecord:
        return CommitRecord.model_construct(
            type="commit",
            source=SOURCE,
            repo=self.plan.repo,
            sha=self._sha(),
            parents=parents,
            author=author,
            authored_at=authored_at,
            committed_at=at,
            message=message,
        )

    def _extend_main(self, sha: str, merged: tuple[str, ...]) -> None:
        self._main_index[sha] = len(self._main_line)
        self._main_line.append((sha, merged))

    def _start_branch(self, at: datetime) -> Iterator[Record]:
        label = _weighted(self.rng, LABEL_WEIGHTS)
        module = self.rng.choice(self.modules)
        title = self.rng.choice(TITLES[label]).format(m=module.replace("_", " "))
        author = self.rng.choice(self.plan.people)
        slug = "-".join(title.lower().split()[:4])
        branch = _Branch(
            number=next(self._pull_requests),
            name=f"{author}/{slug}",
            author=author,
            title=title,
            labels=[label] if label else [],
            head=self._main_line[-1][0],
            commits_left=_weighted(self.rng, BRANCH_COMMIT_WEIGHTS),
            first_commit_at=max(self.start, at - _minutes(self.rng.uniform(0, 30))),
            opened_at=at + _minutes(self.rng.uniform(1, 30)),
        )
        self._open_branches[branch.number] = branch
        yield from self._branch_commit(at, branch)

    def _branch_commit(self, at: datetime, branch: _Branch) -> Iterator[Record]:
        if branch.shas:
            authored_at = max(self.start, at - _minutes(self.rng.uniform(0, 30)))
            message = self.rng.choice(FOLLOW_UPS).format(m=self.rng.choice(self.modules))
        else:
            authored_at, message = branch.first_commit_at, branch.title
        commit = self._commit(at, [branch.head], branch.author, message, authored_at)
        branch.head = commit.sha
        branch.shas.append(commit.sha)
        branch.commits_left -= 1
        yield commit
        yield from self._build(at, commit.sha, branch.name)
        if branch.commits_left:
            self._at(at + _hours(self.rng.uniform(0.2, 4)), self._branch_commit, branch)
        else:
            review = self.rng.lognormvariate(math.log(self.velocity.review_hours), 0.8)
            # At least 40 minutes, so the pull request is open before it merges.
            self._at(at + _hours(max(review, 0.7)), self._merge, branch)

    def _merge(self, at: datetime, branch: _Branch) -> Iterator[Record]:
        del self._open_branches[branch.number]
        merger = self.rng.choice([p for p in self.plan.people if p != branch.author])
        parents = [self._main_line[-1][0], branch.head]
        message = f"Merge pull request #{branch.number} from {ORG}/{branch.name}"
        commit = self._commit(at, parents, merger, message, at)
        self._extend_main(commit.sha, tuple(branch.shas))
        yield commit
        yield self._pull_request(branch, merged_at=at, merge_commit_sha=commit.sha)
        build = yield from self._build(at, commit.sha, "main")
        if build is None or build.status != "success" or build.finished_at is None:
            return  # only a green main build goes to staging
        if self.rng.random() < self.velocity.stage_chance:
            started = build.finished_at + _minutes(self.rng.uniform(1, 10))
            self._at(started, self._stage, commit.sha)

    def _pull_request(
        self, branch: _Branch, *, merged_at: datetime | None, merge_commit_sha: str | None
    ) -> PullRequestRecord:
        return PullRequestRecord.model_construct(
            type="pull_request",
            source=SOURCE,
            repo=self.plan.repo,
            number=branch.number,
            title=branch.title,
            author=branch.author,
            opened_at=branch.opened_at,
            first_commit_at=branch.first_commit_at,
            merged_at=merged_at,
            merge_commit_sha=merge_commit_sha,
            labels=branch.labels,
        )

    def _unmerged_pull_requests(self) -> Iterator[Record]:
        for branch in self._open_branches.values():
            if branch.opened_at < self.end:
                yield self._pull_request(branch, merged_at=None, merge_commit_sha=None)

    def _build(
        self, at: datetime, sha: str, branch: str, *, green: bool = False
    ) -> Generator[Record, None, BuildRecord | None]:
        """Yield a CI build of `sha` pushed at `at`, then its test cases; return the build.

        Returns None when the build would start after `end`.
        """
        started = at + timedelta(seconds=self.rng.randint(20, 150))
        if started >= self.end:
            return None
        number = next(self._builds)
        finished: datetime | None = started + _minutes(self.rng.uniform(3, 12))
        roll = self.rng.random()
        status: Literal["success", "failure", "cancelled", "running"] = "success"
        if not green and roll < BUILD_FAILURE_CHANCE:
            status = "failure"
        elif not green and roll < BUILD_FAILURE_CHANCE + BUILD_CANCEL_CHANCE:
            status = "cancelled"
        if finished is not None and finished >= self.end:
            status, finished = "running", None
        build = BuildRecord.model_construct(
            type="build",
            source=SOURCE,
            id=f"{self.plan.name}-ci-{number}",
            repo=self.plan.repo,
            service=self.plan.name,
            pipeline="ci",
            branch=branch,
            sha=sha,
            status=status,
            started_at=started,
            finished_at=finished,
            url=f"https://github.com/{self.plan.repo}/actions/runs/{number}",
        )
        yield build
        if status in ("success", "failure"):
            yield from self._test_cases(build.id, failed=status == "failure")
        return build

    def _test_cases(self, build_id: str, *, failed: bool) -> Iterator[TestCaseRecord]:
        failing = self.rng.sample(self.breakable, self.rng.choice((1, 1, 2))) if failed else []
        for spec in self.catalog:
            if spec.skipped:
                yield self._test_case(build_id, spec, "skipped", 0.0, SKIP_MESSAGE)
                continue
            duration = round(self.rng.lognormvariate(spec.log_median_s, 0.5), 4)
            if spec in failing:
                yield self._test_case(
                    build_id, spec, "failed", duration, self.rng.choice(ASSERTIONS)
                )
            elif spec.flaky and self.rng.random() < FLAKE_CHANCE:
                yield self._test_case(build_id, spec, "failed", duration, FLAKE_MESSAGE)
                retry = round(self.rng.lognormvariate(spec.log_median_s, 0.5), 4)
                yield self._test_case(build_id, spec, "passed", retry, None, attempt=2, flaky=True)
            else:
                yield self._test_case(build_id, spec, "passed", duration, None)

    @staticmethod
    def _test_case(
        build_id: str,
        spec: _TestSpec,
        outcome: Literal["passed", "failed", "skipped"],
        duration_s: float,
        message: str | None,
        *,
        attempt: int = 1,
        flaky: bool = False,
    ) -> TestCaseRecord:
        return TestCaseRecord.model_construct(
            type="test_case",
            source=SOURCE,
            build_id=build_id,
            suite=spec.suite,
            classname=spec.classname,
            name=spec.name,
            attempt=attempt,
            outcome=outcome,
            duration_s=duration_s,
            message=message,
            flaky=flaky,
        )

    def _test_catalog(self) -> list[_TestSpec]:
        size = self.scale.tests_per_build
        specs: list[_TestSpec] = []
        keys: set[tuple[str, str, str]] = set()
        for kind, share, median_s in TEST_KINDS:
            count = size - len(specs) if kind == "e2e" else round(size * share)
            while count:
                module = self.rng.choice(self.modules)
                key = (
                    f"tests/{kind}/test_{module}.py",
                    "Test" + module.title().replace("_", ""),
                    f"test_{self.rng.choice(BEHAVIOURS)}",
                )
                if key not in keys:
                    keys.add(key)
                    specs.append(_TestSpec(*key, log_median_s=math.log(median_s)))
                    count -= 1
        # One test is skipped everywhere; one or two integration or e2e tests are flaky.
        slow = [i for i, spec in enumerate(specs) if not spec.suite.startswith("tests/unit/")]
        skipped, *flaky = self.rng.sample(slow, 1 + self.rng.choice((1, 2)))
        specs[skipped] = replace(specs[skipped], skipped=True)
        for index in flaky:
            specs[index] = replace(specs[index], flaky=True)
        return specs

    # Deployments

    def _next_version(self) -> str:
        major, minor, patch = self._version
        self._version = (
            [major, minor + 1, 0] if self.rng.random() < 0.15 else [major, minor, patch + 1]
        )
        return "{}.{}.{}".format(*self._version)

    def _rollout_status(self) -> DeploymentStatus:
        roll = self.rng.random()
        if roll < ROLLOUT_FAILURE_CHANCE:
            return "failure"
        if roll < ROLLOUT_FAILURE_CHANCE + ROLLOUT_CANCEL_CHANCE:
            return "cancelled"
        return "success"

    def _deployment(
        self,
        environment: str,
        started: datetime,
        *,
        version: str,
        sha: str,
        status: DeploymentStatus = "success",
        kind: DeploymentKind | None = None,
        fixes: str | None = None,
        commits: list[str] | None = None,
        actor: str = DEPLOY_BOT,
    ) -> DeploymentRecord:
        """Build a deployment record; one that would finish after `end` is still running."""
        number = next(self._deployments[environment])
        finished: datetime | None = started + _minutes(self.rng.uniform(2, 12))
        if status != "success":
            finished = started + _minutes(self.rng.uniform(1, 4))
        if finished is not None and finished >= self.end:
            status, finished = "running", None
        return DeploymentRecord.model_construct(
            type="deployment",
            source=SOURCE,
            id=f"{self.plan.name}-{environment}-{number}",
            service=self.plan.name,
            environment=environment,
            sha=sha,
            ref=f"v{version}",
            version=version,
            repo=self.plan.repo,
            status=status,
            kind=kind,
            fixes=fixes,
            commits=commits,
            started_at=started,
            finished_at=finished,
            actor=actor,
        )

    def _stage(self, at: datetime, sha: str) -> Iterator[Record]:
        index = self._main_index[sha]
        if self._staged is not None and index <= self._staged.main_index:
            return  # a newer main build reached staging first; this one is superseded
        version = self._next_version()
        deployment = self._deployment(
            STAGING, at, version=version, sha=sha, status=self._rollout_status()
        )
        yield deployment
        if deployment.status == "success":
            self._staged = _Staged(version, sha, index)

    def _release(self, at: datetime) -> Iterator[Record]:
        """A production release slot: ship the newest staged version, or maybe redeploy."""
        if self._frozen:
            return
        staged = self._staged
        if staged is not None and staged.main_index > self._released_index:
            yield from self._ship(at, staged)
        elif self._production and self.rng.random() < REDEPLOY_CHANCE:
            live = self._production[-1]
            deployment = self._deployment(
                PRODUCTION,
                at,
                version=live.version,
                sha=live.sha,
                kind=self.rotations.redeploy_kinds.next(),
            )
            yield deployment
            self._went_live(deployment, live.version, live.sha, live.main_index)

    def _ship(self, at: datetime, staged: _Staged) -> Iterator[Record]:
        since = self._production[-1].main_index if self._production else -1
        shipped = self._main_line[since + 1 : staged.main_index + 1]
        commits = None
        if self.rng.random() < EXPLICIT_COMMITS_CHANCE:
            commits = [sha for merge, merged in shipped for sha in (*merged, merge)]
        deployment = self._deployment(
            PRODUCTION,
            at,
            version=staged.version,
            sha=staged.sha,
            status=self._rollout_status(),
            commits=commits,
            actor=self._captain(),
        )
        yield deployment
        if deployment.status in ("failure", "cancelled"):
            self._at(at + _hours(self.rng.uniform(0.3, 1.5)), self._release)  # retry
            return
        live = self._went_live(deployment, staged.version, staged.sha, staged.main_index)
        if live is not None:
            # Branch commits new to production: where a bad release's root cause can be.
            fresh = self._main_line[self._released_index + 1 : staged.main_index + 1]
            self._released_index = staged.main_index
            if self.rng.random() < self.velocity.bad_chance:
                yield from self._go_wrong(live, [sha for _, merged in fresh for sha in merged])

    def _captain(self) -> str:
        # Elite services deploy continuously; the others have a person pressing the button.
        return DEPLOY_BOT if self.velocity.tier == "elite" else self.rng.choice(self.plan.people)

    def _went_live(
        self, deployment: DeploymentRecord, version: str, sha: str, main_index: int
    ) -> _Live | None:
        """Record a finished successful production deployment as what runs in production."""
        if deployment.status != "success" or deployment.finished_at is None:
            return None
        live = _Live(deployment.id, version, sha, main_index, deployment.finished_at)
        self._production.append(live)
        return live

    def _go_wrong(self, bad: _Live, shipped: list[str]) -> Iterator[Record]:
        """Make a release bad: an incident (with some link hint) and a remediation."""
        self._frozen = True
        remedy = self.rotations.remedies.next()
        hint = self.rotations.hints.next()
        opened = bad.finished_at + _hours(self.rng.uniform(*self.velocity.detect_hours))
        fixed = opened + _hours(self.rng.uniform(*self.velocity.recover_hours))
        if remedy.action == "none":
            resolved = fixed
            self._at(fixed, self._unfreeze)
        else:
            self._at(fixed, self._remediate, bad, remedy)
            resolved = fixed + _minutes(self.rng.uniform(15, 60))
        if hint == "silent" or opened >= self.end:
            return
        root_cause = self.rng.choice(shipped) if shipped else bad.sha
        yield self._incident(
            opened,
            resolved if resolved < self.end else None,
            environment=PRODUCTION if self.rng.random() < 0.8 else None,
            deployment_id=bad.id if hint == "deployment" else None,
            root_cause_sha=root_cause if hint == "root_cause" else None,
            version=bad.version if hint == "version" else None,
        )

    def _unfreeze(self, _at: datetime) -> Iterable[Record]:
        self._frozen = False
        return ()

    def _remediate(self, at: datetime, bad: _Live, remedy: _Remedy) -> Iterator[Record]:
        self._frozen = False
        target = self._rollback_target(bad, remedy.depth) if remedy.action == "rollback" else None
        if target is not None:
            deployment = self._deployment(
                PRODUCTION,
                at,
                version=target.version,
                sha=target.sha,
                kind="rollback" if remedy.explicit else None,
                actor=self.rng.choice(self.plan.people),
            )
            yield deployment
            self._went_live(deployment, target.version, target.sha, target.main_index)
            return
        # A hotfix, also when there is no earlier version to roll back to: a fix committed
        # on top of the bad release, built, and shipped straight to production.
        committed = max(bad.finished_at + timedelta(minutes=2), at - timedelta(minutes=45))
        author = self.rng.choice(self.plan.people)
        commit = self._commit(committed, [bad.sha], author, f"Hotfix for {bad.version}", committed)
        yield commit
        yield from self._build(committed, commit.sha, f"hotfix/{bad.version}", green=True)
        at = max(at, committed + timedelta(minutes=20))  # after the hotfix build finished
        if at >= self.end:
            return
        version = f"{bad.version}-hotfix.1"
        deployment = self._deployment(
            PRODUCTION,
            at,
            version=version,
            sha=commit.sha,
            kind="hotfix" if remedy.explicit else None,
            fixes=bad.id if remedy.names_fixed else None,
            actor=author,
        )
        yield deployment
        self._went_live(deployment, version, commit.sha, bad.main_index)

    def _rollback_target(self, bad: _Live, depth: int) -> _Live | None:
        """Return the deployment `depth` distinct versions before `bad` (or the oldest one)."""
        seen, target = {bad.version}, None
        for live in reversed(self._production):
            if live.version not in seen:
                seen.add(live.version)
                target = live
                if len(seen) > depth:
                    break
        return target

    # Incidents and monitors

    def _incident(
        self,
        opened: datetime,
        resolved: datetime | None,
        *,
        environment: str | None,
        deployment_id: str | None = None,
        root_cause_sha: str | None = None,
        version: str | None = None,
    ) -> IncidentRecord:
        self._incident_windows.append((opened, resolved or self.end))
        external_id = f"{self.plan.name}-incident-{next(self._incidents)}"
        return IncidentRecord.model_construct(
            type="incident",
            source=SOURCE,
            id=external_id,
            service=self.plan.name,
            environment=environment,
            severity=_weighted(self.rng, SEVERITY_WEIGHTS),
            title=self.rng.choice(INCIDENT_TITLES).format(s=self.plan.name),
            opened_at=opened,
            resolved_at=resolved,
            status="resolved" if resolved else "open",
            deployment_id=deployment_id,
            root_cause_sha=root_cause_sha,
            version=version,
            url=f"https://{ORG}.pagerduty.com/incidents/{external_id}",
        )

    def _unrelated_incident(self, at: datetime) -> Iterator[Record]:
        """An incident no deployment caused (a dependency outage, a traffic spike)."""
        if self._frozen or (
            self._production and at - self._production[-1].finished_at < UNRELATED_INCIDENT_GAP
        ):
            return
        resolved = at + _hours(self.rng.lognormvariate(math.log(3), 1.0))
        yield self._incident(
            at,
            resolved if resolved < self.end else None,
            environment=PRODUCTION if self.rng.random() < 0.8 else None,
        )

    def _monitors(self) -> list[_Monitor]:
        baseline = self.rng.uniform(80, 400)
        latency = {
            state: (low * baseline, high * baseline)
            for state, (low, high) in MONITOR_RANGES["latency_p99"].items()
        }
        monitors = [
            _Monitor(f"{self.plan.name}.latency_p99", latency),
            _Monitor(f"{self.plan.name}.error_rate", MONITOR_RANGES["error_rate"]),
        ]
        if self.rng.random() < 0.6:
            monitors.append(
                _Monitor(f"{self.plan.name}.slo.availability", MONITOR_RANGES["slo.availability"])
            )
        return monitors

    def _monitor_states(self) -> Iterator[MonitorStateRecord]:
        step = self.scale.monitor_interval
        first = self.start.replace(minute=0, second=0, microsecond=0)
        if first < self.start:
            first += timedelta(hours=1)
        # Observation slots (by index) that fall inside an incident are in alert.
        alerting: set[int] = set()
        for opened, resolved in self._incident_windows:
            low = max(0, math.ceil((opened - first) / step))
            alerting.update(range(low, math.floor((resolved - first) / step) + 1))
        slots = math.ceil((self.end - first) / step)
        for monitor in self.monitors:
            for slot in range(slots):
                state: MonitorStateValue = "ok"
                if slot in alerting:
                    state = "alert"
                else:
                    roll = self.rng.random()
                    if roll < MONITOR_WARN_CHANCE:
                        state = "warn"
                    elif roll < MONITOR_WARN_CHANCE + MONITOR_NO_DATA_CHANCE:
                        state = "no_data"
                value = (
                    None
                    if state == "no_data"
                    else round(self.rng.uniform(*monitor.ranges[state]), 4)
                )
                yield MonitorStateRecord.model_construct(
                    type="monitor_state",
                    source=SOURCE,
                    monitor=monitor.name,
                    observed_at=first + slot * step,
                    service=self.plan.name,
                    state=state,
                    value=value,
                )


def _hours(hours: float) -> timedelta:
    # Whole seconds, as CI and deployment systems report them.
    return timedelta(seconds=round(hours * 3600))


def _minutes(minutes: float) -> timedelta:
    return _hours(minutes / 60)


def _poisson(rng: random.Random, mean: float) -> int:
    """Draw a Poisson count (Knuth's method; the means here are small)."""
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _weighted(rng: random.Random, weights: dict[K, float]) -> K:
    return rng.choices(list(weights), weights=list(weights.values()))[0]
