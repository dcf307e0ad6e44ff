"""The service catalog: services and the team that owns each."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, JSONValue


class Service(Base):
    """A deployable service, from the config file's catalog or an imported `service` record."""

    __tablename__ = "services"
    natural_key = ("name",)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    team: Mapped[str | None] = mapped_column(String(200))
    repos: Mapped[list[str]] = mapped_column(JSONValue, default=list)
    tier: Mapped[str | None] = mapped_column(String(50))
