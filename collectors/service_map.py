"""Mapping a monitoring source's names for services and environments onto the catalog.

Datadog tags, OpenSearch log fields and PagerDuty services each name services their own
way. A name maps, in order: through the connection's `service_map` (by name or id,
case-insensitive), to the catalog service of that name (case-insensitive), or else stays
as the source spelled it, so nothing is dropped for lack of a catalog entry.
"""

from __future__ import annotations

from collections.abc import Iterable

from collectors.spec import Scope

# IncidentRecord needs a service; an incident that names none is kept under this one.
UNKNOWN_SERVICE = "unknown"


def mapped_service(scope: Scope, *names: str | None) -> str | None:
    """The service the first mappable name stands for, or None when none maps.

    Args:
        scope: The stream's scope (its connection's `service_map` and the catalog).
        *names: Candidate names or ids, best first; None and empty ones are skipped.
    """
    mapping = {key.lower(): value for key, value in scope.config.service_map.items()}
    catalog = {name.lower(): name for name in scope.services}
    for name in names:
        lowered = (name or "").strip().lower()
        if lowered in mapping:
            return mapping[lowered]
        if lowered in catalog:
            return catalog[lowered]
    return None


def catalog_service(scope: Scope, *names: str | None) -> str | None:
    """Like `mapped_service`, but an unmapped name stands for itself (the first non-empty)."""
    given = [name.strip() for name in names if name and name.strip()]
    return mapped_service(scope, *given) or (given[0] if given else None)


def catalog_environment(scope: Scope, service: str | None, environment: str | None) -> str | None:
    """The environment in the catalog's spelling when the service lists it, else as given."""
    if environment is None or not environment.strip():
        return None
    entry = scope.services.get(service or "")
    for known in entry.environments if entry else ():
        if known.lower() == environment.strip().lower():
            return known
    return environment.strip()


def tag_values(tags: Iterable[str] | None, *keys: str) -> list[str]:
    """The values of `key:value` tags whose key is one of `keys`, in tag order, unique."""
    wanted = {key.lower() for key in keys}
    values: list[str] = []
    for tag in tags or ():
        key, sep, value = tag.partition(":")
        if sep and key.lower() in wanted and value and value not in values:
            values.append(value)
    return values


def is_first_scope(scope: Scope) -> bool:
    """Whether `scope` is its connection's first; account-wide streams read only under it.

    Incidents and alerts belong to the whole account, not to one scope, so reading them
    once per scope would only repeat the same requests.
    """
    return not scope.config.scopes or scope.config.scopes[0] == scope.name
