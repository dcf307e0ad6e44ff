"""The service catalog of the config file, copied into the `services` table."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ingest.records import ServiceRecord
from ingest.writer import RecordWriter
from settings import Settings


def sync_catalog(session: Session, settings: Settings) -> int:
    """Upsert every service of `settings.services`; services not in the file are kept.

    Returns:
        The number of services written.
    """
    writer = RecordWriter(session)
    for name, service in settings.services.items():
        writer.add(
            ServiceRecord(
                type="service", name=name, team=service.team, repos=service.repos, tier=service.tier
            )
        )
    writer.flush()
    return writer.written["services"]
