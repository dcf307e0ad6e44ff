"""What the dashboard's filters can choose from: teams, services and deployment environments."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, union
from sqlalchemy.orm import Session

from models import Deployment, Incident, Service


@dataclass(frozen=True)
class Dimensions:
    """The filter choices, each sorted.

    Attributes:
        teams: Every team of the service catalog.
        services: Every service of the catalog or with deployments or incidents.
        environments: Every environment a deployment went to.
    """

    teams: tuple[str, ...]
    services: tuple[str, ...]
    environments: tuple[str, ...]


def dimensions(session: Session) -> Dimensions:
    """Read the teams, services and environments present in the database."""
    named = union(
        select(Deployment.service.label("name")),
        select(Incident.service.label("name")),
        select(Service.name.label("name")),
    ).subquery()
    services = tuple(sorted(session.scalars(select(named.c.name))))
    teams = tuple(sorted({team for team in session.scalars(select(Service.team)) if team}))
    environments = tuple(sorted(session.scalars(select(Deployment.environment).distinct())))
    return Dimensions(teams, services, environments)
