"""The Kubernetes Deployment and Argo Rollouts backends against a fake API server.

The fake serves the API's JSON for Deployments, ReplicaSets and Rollouts; the real
`kubernetes` client talks to it. The tests assert the exact patches, that nothing is sent
when the target already runs, and that a paused or progressing object is handled safely.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy.orm import Session, sessionmaker

from releases import actions
from releases.actions import ActionResult
from settings import Settings
from tests.releases.data import settings_from
from tests.releases.test_actions import ANA, BO, audit, current, seed

TOKEN = "k8s-test-token"
DEPLOYMENTS = "/apis/apps/v1/namespaces/prod/deployments/api"
REPLICA_SETS = "/apis/apps/v1/namespaces/prod/replicasets"
ROLLOUT = "/apis/argoproj.io/v1alpha1/namespaces/prod/rollouts/api"


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FD_TEST_K8S_TOKEN", TOKEN)


def cluster(server: HTTPServer, kind: str) -> Settings:
    return settings_from(
        f'[[backends]]\nservice = "api"\nenvironment = "production"\nkind = "{kind}"\n'
        f'base_url = "{server.url_for("").rstrip("/")}"\ntoken_env = "FD_TEST_K8S_TOKEN"\n'
        'namespace = "prod"\nname = "api"\ncontainer = "app"\n'
    )


def template(version: str, **labels: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "api", **labels}},
        "spec": {
            "containers": [
                {"name": "sidecar", "image": "envoy:1.30"},
                {"name": "app", "image": f"registry.acme.example:5000/api:{version}"},
            ]
        },
    }


def deployment(version: str, paused: bool = False) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api", "namespace": "prod", "uid": "dep-uid", "resourceVersion": "41"},
        "spec": {
            "paused": paused,
            "selector": {"matchLabels": {"app": "api"}},
            "template": template(version),
        },
    }


def replica_set(revision: int, version: str, owner: str, hash_label: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"api-{revision}",
            "annotations": {"deployment.kubernetes.io/revision": str(revision)},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": "api",
                    "uid": owner,
                    "controller": True,
                }
            ],
        },
        "spec": {
            "selector": {"matchLabels": {"app": "api"}},
            "template": template(version, **{hash_label: f"h{revision}"}),
        },
    }


def replica_sets(owner: str, hash_label: str = "pod-template-hash") -> dict[str, Any]:
    return {
        "kind": "ReplicaSetList",
        "apiVersion": "apps/v1",
        "metadata": {},
        "items": [
            replica_set(3, "1.1", owner, hash_label),
            replica_set(2, "1.0", owner, hash_label),
            replica_set(9, "1.0", "someone-else", hash_label),
        ],
    }


def roll_back(sessions: sessionmaker[Session], settings: Settings) -> ActionResult:
    return actions.rollback(
        sessions,
        settings,
        actor=ANA,
        service="api",
        environment="production",
        target_version="1.0",
        expected_current_version="1.1",
        reason="errors",
        idempotency_key=uuid.uuid4().hex,
        confirmation="api",
    )


def sent(server: HTTPServer, method: str) -> list[Any]:
    return [json.loads(r.get_data()) for r, _ in server.log if r.method == method]


def test_a_deployment_rolls_back_to_the_owned_replica_set_by_compare_and_swap(
    sessions: sessionmaker[Session], httpserver: HTTPServer
) -> None:
    seed(sessions)
    httpserver.expect_request(DEPLOYMENTS, method="GET").respond_with_json(deployment("1.1"))
    httpserver.expect_request(
        REPLICA_SETS, method="GET", query_string={"labelSelector": "app=api"}
    ).respond_with_json(replica_sets("dep-uid"))
    httpserver.expect_request(DEPLOYMENTS, method="PATCH").respond_with_json(deployment("1.0"))

    result = roll_back(sessions, cluster(httpserver, "kubernetes"))

    assert (result.outcome, result.message) == (
        "succeeded",
        "api rolled back to revision 2; production is now held",
    )
    patch_request = next(r for r, _ in httpserver.log if r.method == "PATCH")
    assert patch_request.headers["Content-Type"] == "application/json-patch+json"
    assert patch_request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent(httpserver, "PATCH") == [
        [
            {"op": "test", "path": "/metadata/resourceVersion", "value": "41"},
            {"op": "replace", "path": "/spec/template", "value": template("1.0")},
        ]
    ]
    assert current(sessions) == "1.0"


def test_a_deployment_already_at_the_target_gets_no_patch(
    sessions: sessionmaker[Session], httpserver: HTTPServer
) -> None:
    seed(sessions)  # Flightdeck still believes 1.1 runs; the cluster already runs 1.0
    httpserver.expect_request(DEPLOYMENTS, method="GET").respond_with_json(deployment("1.0"))

    result = roll_back(sessions, cluster(httpserver, "kubernetes"))

    assert (result.outcome, result.message) == (
        "succeeded",
        "skipped: api already runs 1.0; production is now held",
    )
    assert sent(httpserver, "PATCH") == []


@pytest.mark.parametrize(
    ("paused", "patch_status", "message"),
    [
        pytest.param(True, None, "api is paused; resume it before rolling back", id="paused"),
        pytest.param(
            False,
            422,
            "Kubernetes answered HTTP 422 (UNPROCESSABLE ENTITY); the object changed since "
            "it was read, reload and retry",
            id="changed-since-read",
        ),
        pytest.param(
            False, 503, "Kubernetes answered HTTP 503 (SERVICE UNAVAILABLE)", id="api-server-down"
        ),
    ],
)
def test_a_deployment_rollback_that_cannot_happen_fails_without_a_hold(
    sessions: sessionmaker[Session],
    httpserver: HTTPServer,
    paused: bool,
    patch_status: int | None,
    message: str,
) -> None:
    seed(sessions)
    httpserver.expect_request(DEPLOYMENTS, method="GET").respond_with_json(
        deployment("1.1", paused=paused)
    )
    httpserver.expect_request(REPLICA_SETS, method="GET").respond_with_json(replica_sets("dep-uid"))
    httpserver.expect_request(DEPLOYMENTS, method="PATCH").respond_with_json(
        {"kind": "Status", "message": "the server rejected our request"}, status=patch_status or 200
    )

    result = roll_back(sessions, cluster(httpserver, "kubernetes"))

    assert (result.outcome, result.message) == ("failed", message)
    assert current(sessions) == "1.1"
    assert audit(sessions)[-1].details.get("hold") is None


def test_a_version_without_a_replica_set_cannot_be_rolled_back_to(
    sessions: sessionmaker[Session], httpserver: HTTPServer
) -> None:
    seed(sessions)
    httpserver.expect_request(DEPLOYMENTS, method="GET").respond_with_json(deployment("1.1"))
    httpserver.expect_request(REPLICA_SETS, method="GET").respond_with_json(replica_sets("other"))

    result = roll_back(sessions, cluster(httpserver, "kubernetes"))

    assert result.outcome == "failed"
    assert result.message.startswith("no ReplicaSet of api runs 1.0")


def promote(sessions: sessionmaker[Session], settings: Settings) -> ActionResult:
    asked = actions.request_promotion(
        sessions,
        settings,
        actor=ANA,
        service="api",
        environment="production",
        version="1.2",
        expected_current_version="1.1",
        idempotency_key=uuid.uuid4().hex,
    )
    return actions.promote(
        sessions,
        settings,
        actor=BO,
        request_id=asked.action_id or 0,
        expected_current_version="1.1",
        idempotency_key=uuid.uuid4().hex,
    )


def test_a_deployment_promotion_sets_the_image_tag(
    sessions: sessionmaker[Session], httpserver: HTTPServer
) -> None:
    seed(sessions)
    httpserver.expect_request(DEPLOYMENTS, method="GET").respond_with_json(deployment("1.1"))
    httpserver.expect_request(DEPLOYMENTS, method="PATCH").respond_with_json(deployment("1.2"))

    result = promote(sessions, cluster(httpserver, "kubernetes"))

    assert (result.outcome, result.message) == (
        "succeeded",
        "api set to registry.acme.example:5000/api:1.2",
    )
    assert sent(httpserver, "PATCH") == [
        [
            {"op": "test", "path": "/metadata/resourceVersion", "value": "41"},
            {
                "op": "replace",
                "path": "/spec/template/spec/containers/1/image",
                "value": "registry.acme.example:5000/api:1.2",
            },
        ]
    ]
    assert current(sessions) == "1.2"


def rollout(version: str, *, paused: bool, promoted: bool = False) -> dict[str, Any]:
    status: dict[str, Any] = {"currentPodHash": "new", "stableRS": "new" if promoted else "old"}
    if paused:
        status["pauseConditions"] = [
            {"reason": "CanaryPauseStep", "startTime": "2026-03-01T10:00:00Z"}
        ]
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "api", "namespace": "prod", "uid": "ro-uid", "resourceVersion": "77"},
        "spec": {"selector": {"matchLabels": {"app": "api"}}, "template": template(version)},
        "status": status,
    }


def test_a_paused_rollout_is_promoted_by_clearing_its_pause(
    sessions: sessionmaker[Session], httpserver: HTTPServer
) -> None:
    seed(sessions)
    httpserver.expect_request(ROLLOUT, method="GET").respond_with_json(rollout("1.2", paused=True))
    httpserver.expect_request(f"{ROLLOUT}/status", method="PATCH").respond_with_json({})

    result = promote(sessions, cluster(httpserver, "argo_rollouts"))

    assert (result.outcome, result.message) == ("succeeded", "api promoted past its pause")
    status_patch = next(r for r, _ in httpserver.log if r.method == "PATCH")
    assert status_patch.headers["Content-Type"] == "application/merge-patch+json"
    assert json.loads(status_patch.get_data()) == {"status": {"pauseConditions": None}}


@pytest.mark.parametrize(
    ("state", "outcome", "message"),
    [
        pytest.param(
            rollout("1.2", paused=False),
            "failed",
            "api is progressing, not paused: promoting now would skip a step",
            id="progressing",
        ),
        pytest.param(
            rollout("1.2", paused=False, promoted=True),
            "succeeded",
            "api is already fully promoted",
            id="fully-promoted",
        ),
        pytest.param(
            rollout("1.3", paused=True),
            "failed",
            "api is rolling out 1.3, not 1.2",
            id="another-version",
        ),
    ],
)
def test_a_rollout_that_is_not_waiting_on_the_version_gets_no_patch(
    sessions: sessionmaker[Session],
    httpserver: HTTPServer,
    state: dict[str, Any],
    outcome: str,
    message: str,
) -> None:
    seed(sessions)
    httpserver.expect_request(ROLLOUT, method="GET").respond_with_json(state)

    result = promote(sessions, cluster(httpserver, "argo_rollouts"))

    assert (result.outcome, result.message) == (outcome, message)
    assert sent(httpserver, "PATCH") == []


def test_a_rollout_undoes_to_the_revision_running_the_version(
    sessions: sessionmaker[Session], httpserver: HTTPServer
) -> None:
    seed(sessions)
    httpserver.expect_request(ROLLOUT, method="GET").respond_with_json(rollout("1.1", paused=False))
    httpserver.expect_request(REPLICA_SETS, method="GET").respond_with_json(
        replica_sets("ro-uid", hash_label="rollouts-pod-template-hash")
    )
    httpserver.expect_request(ROLLOUT, method="PATCH").respond_with_json({})

    result = roll_back(sessions, cluster(httpserver, "argo_rollouts"))

    assert result.outcome == "succeeded"
    assert sent(httpserver, "PATCH") == [
        [
            {"op": "test", "path": "/metadata/resourceVersion", "value": "77"},
            {"op": "replace", "path": "/spec/template", "value": template("1.0")},
        ]
    ]
