"""Kubernetes backends: a plain Deployment, and an Argo Rollouts Rollout, via the API server.

A version is the image tag of the workload's container (`container`, default the first):
`acme/api:1.4.2` runs version `1.4.2`. Every change is a JSON patch that first tests the
object's `resourceVersion`, a compare-and-swap: if anything changed the object since it was
read, the server refuses the patch instead of Flightdeck overwriting it.

- Deployment promote: set the container image to the version's tag (skipped if it runs).
- Deployment rollback (`kubectl rollout undo --to-revision` done right): find the owned
  ReplicaSet whose template runs the version, and put its template back; skipped when the
  template already matches; refused while the Deployment is paused.
- Rollout promote: only a paused Rollout whose template is the version is promoted (its
  pause conditions cleared); a progressing one is refused, because promoting it would skip
  a step; a fully promoted one is left alone.
- Rollout rollback: as the Deployment's, on the Rollout's owned ReplicaSets.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from errors import BackendRejected, BackendUnavailable
from releases.backends.base import BackendRequest, BackendResult, secret_from_env
from settings import BackendConfig

ARGO = ("argoproj.io", "v1alpha1", "rollouts")
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
# Labels the controllers add to a ReplicaSet's template; the workload's own never has them.
HASH_LABELS = ("pod-template-hash", "rollouts-pod-template-hash")


def image_version(template: dict[str, Any], container: str | None) -> str | None:
    """The tag of the image of `container` (or the first container) in a pod template."""
    containers = template.get("spec", {}).get("containers", [])
    chosen = (
        next((c for c in containers if c.get("name") == container), None)
        if container
        else (containers[0] if containers else None)
    )
    image = str(chosen.get("image", "")) if chosen else ""
    name, _, tag = image.rpartition(":")
    return tag if name and "/" not in tag else None


def _container_index(template: dict[str, Any], container: str | None) -> int:
    containers = template.get("spec", {}).get("containers", [])
    for index, entry in enumerate(containers):
        if container is None or entry.get("name") == container:
            return index
    msg = f"the pod template has no container named {container!r}"
    raise BackendRejected(msg)


def _without_hash(template: dict[str, Any]) -> dict[str, Any]:
    labels = dict(template.get("metadata", {}).get("labels") or {})
    for label in HASH_LABELS:
        labels.pop(label, None)
    metadata = dict(template.get("metadata", {})) | {"labels": labels}
    return template | {"metadata": metadata}


@dataclass(frozen=True)
class _Cluster:
    """How to reach the API server, from the backend's config."""

    base_url: str | None
    token: str | None
    namespace: str
    name: str
    container: str | None
    timeout: float

    @classmethod
    def from_config(cls, settings: BackendConfig) -> _Cluster:
        # A cluster may be reached without a token (in-cluster or a local proxy).
        token = secret_from_env(settings, settings.token_env) if settings.token_env else None
        return cls(
            settings.base_url,
            token,
            settings.namespace,
            str(settings.name),
            settings.container,
            settings.timeout_seconds,
        )

    @contextmanager
    def api(self) -> Iterator[client.ApiClient]:
        """An API client; Kubernetes errors become backend errors."""
        configuration = client.Configuration()
        if self.base_url:
            configuration.host = self.base_url.rstrip("/")
        else:
            try:
                # The client's config loaders carry no annotations.
                config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            except ConfigException:
                config.load_kube_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        if self.token:
            configuration.api_key = {"BearerToken": self.token}
            configuration.api_key_prefix = {"BearerToken": "Bearer"}
        try:
            with client.ApiClient(configuration) as api:
                yield api
        except ApiException as exc:
            reason = f"Kubernetes answered HTTP {exc.status} ({exc.reason})"
            if exc.status is not None and exc.status < 500 and exc.status != 429:
                if exc.status in {409, 422}:
                    reason += "; the object changed since it was read, reload and retry"
                raise BackendRejected(reason) from exc
            raise BackendUnavailable(reason) from exc
        except urllib3.exceptions.HTTPError as exc:
            msg = f"Kubernetes API unreachable ({type(exc).__name__})"
            raise BackendUnavailable(msg) from exc


def _plain(api: client.ApiClient, model: object) -> dict[str, Any]:
    """A client model as the plain JSON-ready dict the API server would send."""
    # sanitize_for_serialization carries no annotations in the client.
    return cast(dict[str, Any], api.sanitize_for_serialization(model))  # type: ignore[no-untyped-call]


def _owned_templates(
    api: client.ApiClient, namespace: str, owner_uid: str, selector: dict[str, str]
) -> list[tuple[int, dict[str, Any]]]:
    """(revision, template) of the ReplicaSets the owner controls, newest revision first."""
    labels = ",".join(f"{key}={value}" for key, value in sorted(selector.items()))
    sets = client.AppsV1Api(api).list_namespaced_replica_set(namespace, label_selector=labels)
    found = []
    for replica_set in sets.items:
        metadata = replica_set.metadata
        owners = (metadata.owner_references or []) if metadata else []
        if not any(owner.uid == owner_uid and owner.controller for owner in owners):
            continue
        annotations = (metadata.annotations or {}) if metadata else {}
        revision = next(
            (int(value) for key, value in annotations.items() if key.endswith("/revision")), 0
        )
        template = _plain(api, replica_set.spec.template)
        found.append((revision, template))
    return sorted(found, key=lambda pair: pair[0], reverse=True)


def _revision_with(
    templates: list[tuple[int, dict[str, Any]]], version: str, container: str | None, name: str
) -> tuple[int, dict[str, Any]]:
    for revision, template in templates:
        if image_version(template, container) == version:
            return revision, _without_hash(template)
    msg = (
        f"no ReplicaSet of {name} runs {version} (revisionHistoryLimit may have dropped it); "
        "roll back through the deploy pipeline instead"
    )
    raise BackendRejected(msg)


def _cas(resource_version: str, *operations: dict[str, Any]) -> list[dict[str, Any]]:
    test = {"op": "test", "path": "/metadata/resourceVersion", "value": resource_version}
    return [test, *operations]


@dataclass(frozen=True)
class DeploymentBackend:
    """A Kubernetes Deployment."""

    cluster: _Cluster
    name: str = "kubernetes"

    @classmethod
    def from_config(cls, settings: BackendConfig) -> DeploymentBackend:
        """Build from config (reads the token variable, if one is named)."""
        return cls(_Cluster.from_config(settings))

    def _read(self, api: client.ApiClient) -> dict[str, Any]:
        apps = client.AppsV1Api(api)
        deployment = apps.read_namespaced_deployment(self.cluster.name, self.cluster.namespace)
        return _plain(api, deployment)

    def _patch(self, api: client.ApiClient, body: list[dict[str, Any]]) -> None:
        client.AppsV1Api(api).patch_namespaced_deployment(
            self.cluster.name, self.cluster.namespace, body, _content_type=JSON_PATCH
        )

    def promote(self, request: BackendRequest) -> BackendResult:
        """Set the container's image tag to the version (compare-and-swap)."""
        c = self.cluster
        with c.api() as api:
            deployment = self._read(api)
            template = deployment["spec"]["template"]
            if image_version(template, c.container) == request.version:
                return BackendResult(
                    "succeeded",
                    None,
                    None,
                    f"{c.name} already runs {request.version}",
                    record=True,
                )
            index = _container_index(template, c.container)
            image = template["spec"]["containers"][index]["image"].rpartition(":")[0]
            self._patch(
                api,
                _cas(
                    deployment["metadata"]["resourceVersion"],
                    {
                        "op": "replace",
                        "path": f"/spec/template/spec/containers/{index}/image",
                        "value": f"{image}:{request.version}",
                    },
                ),
            )
        return BackendResult(
            "succeeded",
            f"{c.namespace}/{c.name}",
            None,
            f"{c.name} set to {image}:{request.version}",
            record=True,
        )

    def rollback(self, request: BackendRequest) -> BackendResult:
        """Put back the template of the owned ReplicaSet that runs the version."""
        c = self.cluster
        with c.api() as api:
            deployment = self._read(api)
            if deployment["spec"].get("paused"):
                msg = f"{c.name} is paused; resume it before rolling back"
                raise BackendRejected(msg)
            if image_version(deployment["spec"]["template"], c.container) == request.version:
                return BackendResult(
                    "succeeded",
                    None,
                    None,
                    f"skipped: {c.name} already runs {request.version}",
                    record=True,
                )
            templates = _owned_templates(
                api,
                c.namespace,
                deployment["metadata"]["uid"],
                deployment["spec"]["selector"].get("matchLabels", {}),
            )
            revision, template = _revision_with(templates, request.version, c.container, c.name)
            self._patch(
                api,
                _cas(
                    deployment["metadata"]["resourceVersion"],
                    {"op": "replace", "path": "/spec/template", "value": template},
                ),
            )
        return BackendResult(
            "succeeded",
            f"{c.namespace}/{c.name}@{revision}",
            None,
            f"{c.name} rolled back to revision {revision}",
            record=True,
        )


@dataclass(frozen=True)
class RolloutBackend:
    """An Argo Rollouts Rollout (the CRD, through the Kubernetes API)."""

    cluster: _Cluster
    name: str = "argo_rollouts"

    @classmethod
    def from_config(cls, settings: BackendConfig) -> RolloutBackend:
        """Build from config (reads the token variable, if one is named)."""
        return cls(_Cluster.from_config(settings))

    def _read(self, api: client.ApiClient) -> dict[str, Any]:
        rollout = client.CustomObjectsApi(api).get_namespaced_custom_object(
            *ARGO[:2], self.cluster.namespace, ARGO[2], self.cluster.name
        )
        return cast(dict[str, Any], rollout)

    def promote(self, request: BackendRequest) -> BackendResult:
        """Clear the pause of a paused Rollout running the version; never skip a step."""
        c = self.cluster
        with c.api() as api:
            objects = client.CustomObjectsApi(api)
            rollout = self._read(api)
            spec, status = rollout.get("spec", {}), rollout.get("status", {})
            running = image_version(spec.get("template", {}), c.container)
            if running != request.version:
                msg = f"{c.name} is rolling out {running}, not {request.version}"
                raise BackendRejected(msg)
            paused = bool(status.get("pauseConditions")) or bool(spec.get("paused"))
            if not paused:
                if status.get("currentPodHash") == status.get("stableRS"):
                    return BackendResult(
                        "succeeded",
                        None,
                        None,
                        f"{c.name} is already fully promoted",
                        record=True,
                    )
                msg = f"{c.name} is progressing, not paused: promoting now would skip a step"
                raise BackendRejected(msg)
            objects.patch_namespaced_custom_object_status(
                *ARGO[:2],
                c.namespace,
                ARGO[2],
                c.name,
                {"status": {"pauseConditions": None}},
                _content_type=MERGE_PATCH,
            )
            if spec.get("paused"):
                objects.patch_namespaced_custom_object(
                    *ARGO[:2],
                    c.namespace,
                    ARGO[2],
                    c.name,
                    {"spec": {"paused": False}},
                    _content_type=MERGE_PATCH,
                )
        return BackendResult(
            "succeeded",
            f"{c.namespace}/{c.name}",
            None,
            f"{c.name} promoted past its pause",
            record=True,
        )

    def rollback(self, request: BackendRequest) -> BackendResult:
        """Put back the template of the owned ReplicaSet that runs the version (undo)."""
        c = self.cluster
        with c.api() as api:
            rollout = self._read(api)
            spec = rollout.get("spec", {})
            if image_version(spec.get("template", {}), c.container) == request.version:
                return BackendResult(
                    "succeeded",
                    None,
                    None,
                    f"skipped: {c.name} already runs {request.version}",
                    record=True,
                )
            templates = _owned_templates(
                api,
                c.namespace,
                rollout["metadata"]["uid"],
                spec.get("selector", {}).get("matchLabels", {}),
            )
            revision, template = _revision_with(templates, request.version, c.container, c.name)
            client.CustomObjectsApi(api).patch_namespaced_custom_object(
                *ARGO[:2],
                c.namespace,
                ARGO[2],
                c.name,
                _cas(
                    rollout["metadata"]["resourceVersion"],
                    {"op": "replace", "path": "/spec/template", "value": template},
                ),
                _content_type=JSON_PATCH,
            )
        return BackendResult(
            "succeeded",
            f"{c.namespace}/{c.name}@{revision}",
            None,
            f"{c.name} rolled back to revision {revision}",
            record=True,
        )
