"""Flightdeck's tables (DESIGN §2), one module per domain, all on one declarative Base."""

from models.base import Base
from models.catalog import Service
from models.cicd import Build, Deployment, DeploymentCommit, TestCase
from models.collection import (
    CollectorRun,
    CollectorState,
    CollectRequest,
    HttpCacheEntry,
    WebhookDelivery,
)
from models.incidents import Incident, MonitorState
from models.metrics import (
    AttributionState,
    DeploymentAttribution,
    FailureCause,
    IncidentAttribution,
)
from models.releases import AuditEvent, ReleaseAction, ReleaseEnvironment
from models.rollups import BuildRollup, RollupState, RollupTest, TestRollup
from models.vcs import Commit, PullRequest

__all__ = [
    "AttributionState",
    "AuditEvent",
    "Base",
    "Build",
    "BuildRollup",
    "CollectRequest",
    "CollectorRun",
    "CollectorState",
    "Commit",
    "Deployment",
    "DeploymentAttribution",
    "DeploymentCommit",
    "FailureCause",
    "HttpCacheEntry",
    "Incident",
    "IncidentAttribution",
    "MonitorState",
    "PullRequest",
    "ReleaseAction",
    "ReleaseEnvironment",
    "RollupState",
    "RollupTest",
    "Service",
    "TestCase",
    "TestRollup",
    "WebhookDelivery",
]
