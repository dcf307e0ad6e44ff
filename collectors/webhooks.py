"""The webhook receiver (`python cli.py serve-webhooks`): pushes that speed polling up.

Routes, per configured connection:

- `POST /webhooks/github/{connection}`: GitHub `workflow_run` and `deployment_status`
  deliveries (and `ping`). `X-Hub-Signature-256` must be the HMAC-SHA256 of the raw body
  with the secret in the connection's `webhook_secret_env`; a missing or wrong signature
  gets 401 and nothing is stored.
- `POST /webhooks/events/{connection}`: NDJSON lines, or a JSON object or list of them
  (DESIGN §3), from an `ndjson` connection, with `Authorization: Bearer <token>` (the
  token in `webhook_secret_env`). Any invalid record rejects the delivery (422, with
  every problem listed) and stores nothing, as `cli.py import` does.

Each delivery is stored once: its id (`X-GitHub-Delivery`, or `X-Delivery-Id` /
`Idempotency-Key`, else the body's SHA-256) is unique per connection, so a redelivery
is acknowledged without writing again. Records go through the same normalizers as
polling (`collectors.github`) and the same `RecordWriter`; polling stays the source of
truth, since GitHub never redelivers a failed delivery by itself.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from collectors.github import build_records, deployment_record
from collectors.runner import utc_now
from collectors.spec import Scope
from errors import ImportRejected, InputError
from ingest.ndjson import parse_line
from ingest.records import Record
from ingest.writer import RecordWriter
from models import WebhookDelivery
from settings import Settings, SourceConfig

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 5 * 1024 * 1024


def verify_signature(body: bytes, secret: str, header: str | None) -> bool:
    """Check GitHub's `X-Hub-Signature-256` (`sha256=<hex HMAC of the raw body>`)."""
    if not header or not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def _store(
    sessions: sessionmaker[Session],
    connection: str,
    delivery: str,
    event: str,
    payload: Any,
    records: Sequence[Record],
    now: datetime,
) -> JSONResponse:
    """Store a delivery and its records in one transaction; a known delivery id is a no-op."""
    try:
        return _store_or_reject(sessions, connection, delivery, event, payload, records, now)
    except ImportRejected as exc:
        return _error(422, "some records cannot be stored; nothing was", problems=exc.problems)


def _store_or_reject(
    sessions: sessionmaker[Session],
    connection: str,
    delivery: str,
    event: str,
    payload: Any,
    records: Sequence[Record],
    now: datetime,
) -> JSONResponse:
    with sessions.begin() as session:
        dialect = session.connection().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = (
            insert(WebhookDelivery)
            .values(
                connection=connection,
                delivery_id=delivery,
                event=event,
                received_at=now,
                rows=len(records),
                payload=payload,
            )
            .on_conflict_do_nothing(index_elements=WebhookDelivery.natural_key)
            .returning(WebhookDelivery.id)
        )
        # RETURNING, not rowcount: psycopg reports -1 for an INSERT ... ON CONFLICT.
        if session.execute(statement).scalar() is None:
            return JSONResponse({"status": "duplicate", "delivery": delivery})
        writer = RecordWriter(session)
        for record in records:
            writer.add(record)
        writer.flush()
        if writer.rejected:
            # Leaving the block by an exception rolls the delivery row back too.
            raise ImportRejected([rejected.reason for rejected in writer.rejected])
    return JSONResponse({"status": "stored", "delivery": delivery, "rows": len(records)})


def create_app(
    sessions: sessionmaker[Session],
    settings: Settings,
    environ: Mapping[str, str] | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> Starlette:
    """Build the receiver for the connections of `settings`.

    Args:
        sessions: Session factory of the database.
        settings: The settings; connections and their secret variables come from here.
        environ: Where secrets are read (default: the process environment).
        clock: The current time (delivery receipt times).
    """
    env = os.environ if environ is None else environ

    def connection_of(request: Request, kind: str) -> tuple[str, SourceConfig, str] | JSONResponse:
        name = request.path_params["connection"]
        config = settings.sources.get(name)
        if config is None or config.kind != kind:
            return _error(404, f"no {kind} connection named {name!r}")
        secret = env.get(config.webhook_secret_env or "")
        if not secret:
            logger.error("connection %s: webhook_secret_env is unset or empty", name)
            return _error(503, f"connection {name!r} has no webhook secret configured")
        return name, config, secret

    async def github(request: Request) -> JSONResponse:
        found = connection_of(request, "github")
        if isinstance(found, JSONResponse):
            return found
        name, config, secret = found
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return _error(413, "delivery too large")
        if not verify_signature(body, secret, request.headers.get("x-hub-signature-256")):
            return _error(401, "missing or invalid X-Hub-Signature-256")
        event = request.headers.get("x-github-event", "")
        delivery = request.headers.get("x-github-delivery")
        if not delivery:
            return _error(400, "missing X-GitHub-Delivery")
        try:
            payload = json.loads(body)
            repo = payload["repository"]["full_name"]
        except (ValueError, KeyError, TypeError):
            if event == "ping":
                return JSONResponse({"status": "pong"})
            return _error(400, "the body is not a GitHub delivery (no repository.full_name)")
        scope = Scope(name, repo, config, clock(), settings.services)
        try:
            if event == "workflow_run":
                records: list[Record] = [*build_records(payload["workflow_run"], None, scope)]
            elif event == "deployment_status":
                status = payload["deployment_status"]
                records = [deployment_record(payload["deployment"], [status], scope, repo)]
            elif event == "ping":
                return JSONResponse({"status": "pong"})
            else:
                return JSONResponse({"status": "ignored", "event": event}, status_code=202)
        except (KeyError, TypeError, ValueError, ValidationError) as exc:
            return _error(422, f"the {event} delivery cannot be read: {exc}")
        return _store(sessions, name, delivery, event, payload, records, clock())

    async def events(request: Request) -> JSONResponse:
        found = connection_of(request, "ndjson")
        if isinstance(found, JSONResponse):
            return found
        name, _config, secret = found
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {secret}".encode()):
            return _error(401, "missing or invalid bearer token")
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return _error(413, "delivery too large")
        delivery = (
            request.headers.get("x-delivery-id")
            or request.headers.get("idempotency-key")
            or hashlib.sha256(body).hexdigest()
        )
        lines = _event_lines(body, request.headers.get("content-type", ""))
        records: list[Record] = []
        problems: list[str] = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                records.append(parse_line(line))
            except InputError as exc:
                problems.append(f"record {number}: {exc}")
        if problems:
            return _error(422, "invalid records; nothing was stored", problems=problems)
        payload = body.decode(errors="replace")
        return _store(sessions, name, delivery, "events", payload, records, clock())

    async def health(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/webhooks/github/{connection}", github, methods=["POST"]),
            Route("/webhooks/events/{connection}", events, methods=["POST"]),
            Route("/healthz", health, methods=["GET"]),
        ]
    )


def _event_lines(body: bytes, content_type: str) -> list[bytes]:
    """Split a body into one JSON text per record: NDJSON lines, or a JSON object/array."""
    if "json" in content_type and "ndjson" not in content_type:
        try:
            parsed = json.loads(body)
        except ValueError:
            return [body]  # reported as invalid JSON by the record parser
        items = parsed if isinstance(parsed, list) else [parsed]
        return [json.dumps(item).encode() for item in items]
    return body.splitlines()
