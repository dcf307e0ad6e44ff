"""Flightdeck's tables (DESIGN §2), one module per domain, all on one declarative Base."""

from models.base import Base
from models.catalog import Service
from models.cicd import Build, Deployment, DeploymentCommit, TestCase
from models.collection import CollectorRun, CollectorState
from models.incidents import Incident, MonitorState
from models.releases import AuditEvent, ReleaseAction
from models.vcs import Commit, PullRequest

__all__ = [
    "AuditEvent",
    "Base",
    "Build",
    "CollectorRun",
    "CollectorState",
    "Commit",
    "Deployment",
    "DeploymentCommit",
    "Incident",
    "MonitorState",
    "PullRequest",
    "ReleaseAction",
    "Service",
    "TestCase",
]
