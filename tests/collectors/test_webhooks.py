"""The webhook receiver: signatures, bearer tokens, deduplication, shared normalizers."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from collectors.webhooks import create_app, verify_signature
from models import Build, Deployment, TestCase, WebhookDelivery
from settings import ServiceConfig, Settings, SourceConfig
from tests.collectors.conftest import NOW
from tests.conftest import FIXTURES

SECRET = "It's a Secret to Everybody"
EVENTS_TOKEN = "events-token-0123"
REPO = "octo-org/octo-repo"


def test_the_signature_check_passes_githubs_documented_test_vector() -> None:
    signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

    assert verify_signature(b"Hello, World!", SECRET, signature)
    assert not verify_signature(b"Hello, World?", SECRET, signature)
    assert not verify_signature(b"Hello, World!", SECRET, None)
    assert not verify_signature(b"Hello, World!", SECRET, signature.replace("sha256=", "sha1="))


@pytest.fixture
def client(
    make_settings: Callable[..., Settings], sessions: sessionmaker[Session]
) -> Iterator[httpx.Client]:
    """The receiver served by uvicorn on a free local port, and an HTTP client for it."""
    settings = make_settings(
        sources={
            "gh": SourceConfig(kind="github", webhook_secret_env="GH_HOOK", scopes=[REPO]),
            "push": SourceConfig(kind="ndjson", webhook_secret_env="PUSH_TOKEN"),
        },
        services={"api": ServiceConfig(repos=[REPO])},
    )
    environ = {"GH_HOOK": SECRET, "PUSH_TOKEN": EVENTS_TOKEN}
    app = create_app(sessions, settings, environ, clock=lambda: NOW)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        threading.Event().wait(0.02)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
        yield http
    server.should_exit = True
    thread.join(timeout=10)


def signed(body: bytes, event: str, delivery: str, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": f"sha256={digest}",
        "Content-Type": "application/json",
    }


def fixture(name: str) -> bytes:
    return (FIXTURES / "github" / name).read_bytes()


def count(sessions: sessionmaker[Session], model: type[Any]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_a_signed_workflow_run_is_stored_once_however_often_it_is_delivered(
    client: httpx.Client, sessions: sessionmaker[Session]
) -> None:
    body = fixture("webhook_workflow_run_completed.json")
    headers = signed(body, "workflow_run", "72d3162e-cc78-11e3-81ab-4c9367dc0958")

    first = client.post("/webhooks/github/gh", content=body, headers=headers)
    again = client.post("/webhooks/github/gh", content=body, headers=headers)

    assert (first.status_code, first.json()["status"]) == (200, "stored")
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    with sessions() as session:
        build = session.scalars(select(Build)).one()
    # The same id and fields as polling gives (collectors.github.build_records).
    assert (build.source, build.external_id, build.status, build.service) == (
        "gh",
        "289782460/1",
        "failure",
        "api",
    )
    assert count(sessions, WebhookDelivery) == 1


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="missing"),
        pytest.param({"X-Hub-Signature-256": "sha256=" + "0" * 64}, id="wrong"),
        pytest.param("other-secret", id="signed-with-another-secret"),
    ],
)
def test_a_bad_or_missing_signature_gets_401_and_stores_nothing(
    client: httpx.Client, sessions: sessionmaker[Session], headers: dict[str, str] | str
) -> None:
    body = fixture("webhook_deployment_status.json")
    sent = signed(body, "deployment_status", "d-1")
    if isinstance(headers, str):
        sent = signed(body, "deployment_status", "d-1", secret=headers)
    else:
        sent.pop("X-Hub-Signature-256")
        sent |= headers

    response = client.post("/webhooks/github/gh", content=body, headers=sent)

    assert response.status_code == 401
    assert count(sessions, Deployment) == 0
    assert count(sessions, WebhookDelivery) == 0


def test_a_deployment_status_delivery_becomes_the_deployment(
    client: httpx.Client, sessions: sessionmaker[Session]
) -> None:
    body = fixture("webhook_deployment_status.json")

    response = client.post(
        "/webhooks/github/gh", content=body, headers=signed(body, "deployment_status", "d-2")
    )

    assert response.status_code == 200
    with sessions() as session:
        deployment = session.scalars(select(Deployment)).one()
    assert (deployment.external_id, deployment.service, deployment.environment) == (
        "145988746",
        "api",
        "production",
    )
    assert deployment.status == "success"
    assert deployment.finished_at is not None
    assert deployment.finished_at.isoformat() == "2026-01-05T15:20:55+00:00"


def test_other_events_are_acknowledged_and_ignored(
    client: httpx.Client, sessions: sessionmaker[Session]
) -> None:
    body = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
    push = json.dumps({"ref": "refs/heads/main", "repository": {"full_name": REPO}}).encode()

    ping = client.post("/webhooks/github/gh", content=body, headers=signed(body, "ping", "p-1"))
    other = client.post("/webhooks/github/gh", content=push, headers=signed(push, "push", "p-2"))

    assert (ping.status_code, ping.json()) == (200, {"status": "pong"})
    assert (other.status_code, other.json()["status"]) == (202, "ignored")
    assert count(sessions, WebhookDelivery) == 0


def test_ndjson_events_with_the_bearer_token_are_imported_and_deduplicated(
    client: httpx.Client, sessions: sessionmaker[Session]
) -> None:
    body = (FIXTURES / "ndjson_source" / "events_1.ndjson").read_bytes()
    headers = {
        "Authorization": f"Bearer {EVENTS_TOKEN}",
        "Content-Type": "application/x-ndjson",
        "X-Delivery-Id": "batch-1",
    }

    first = client.post("/webhooks/events/push", content=body, headers=headers)
    again = client.post("/webhooks/events/push", content=body, headers=headers)

    assert first.json() == {"status": "stored", "delivery": "batch-1", "rows": 3}
    assert again.json()["status"] == "duplicate"
    assert (count(sessions, Build), count(sessions, TestCase), count(sessions, Deployment)) == (
        1,
        1,
        1,
    )


def test_a_json_event_with_an_invalid_record_is_refused_whole(
    client: httpx.Client, sessions: sessionmaker[Session]
) -> None:
    records = [
        {"type": "build", "id": "b-1", "status": "success"},
        {"type": "build", "id": "b-2", "status": "green"},
    ]

    response = client.post(
        "/webhooks/events/push",
        json=records,
        headers={"Authorization": f"Bearer {EVENTS_TOKEN}"},
    )

    assert response.status_code == 422
    assert response.json()["problems"] == [
        "record 2: build.status: unknown status 'green' "
        "(expected 'success', 'failure', 'cancelled', 'running' or 'skipped')"
    ]
    assert count(sessions, Build) == 0


def test_events_without_the_right_bearer_token_get_401(
    client: httpx.Client, sessions: sessionmaker[Session]
) -> None:
    record = {"type": "build", "id": "b-1", "status": "success"}

    missing = client.post("/webhooks/events/push", json=record)
    wrong = client.post(
        "/webhooks/events/push", json=record, headers={"Authorization": "Bearer guess"}
    )

    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert count(sessions, Build) == 0


def test_an_unknown_connection_is_404(client: httpx.Client) -> None:
    assert client.post("/webhooks/github/nope", content=b"{}").status_code == 404
    assert client.post("/webhooks/events/gh", content=b"{}").status_code == 404
