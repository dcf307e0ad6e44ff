"""Who may do what: the four roles, ranked, and the acting user every action takes.

Roles are ranked (viewer < analyst < captain < admin) and each permission needs a minimum
rank, so an admin can do everything a captain can. The UI hides what a user may not use,
and every action checks again: a hidden button is a courtesy, the check is the rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import get_args

from settings import Role

ROLES: tuple[Role, ...] = get_args(Role)
RANK: dict[Role, int] = {role: rank for rank, role in enumerate(ROLES)}


class Permission(StrEnum):
    """Things a user may be allowed to do."""

    view = "view"
    export = "export"
    release = "release"  # request, approve, reject, promote, roll back, hold, unhold
    override = "override"  # promote past a failed gate or a freeze window


REQUIRED: dict[Permission, Role] = {
    Permission.view: "viewer",
    Permission.export: "analyst",
    Permission.release: "captain",
    Permission.override: "admin",
}


@dataclass(frozen=True)
class Actor:
    """The signed-in user an action runs as.

    Attributes:
        name: The user's identity (e-mail) as the sign-in provider gave it.
        role: The user's role.
    """

    name: str
    role: Role

    def can(self, permission: Permission) -> bool:
        """Whether this user's role allows `permission`."""
        return RANK[self.role] >= RANK[REQUIRED[permission]]


def highest_role(names: list[str], default: Role) -> Role:
    """The highest known role among `names` (claim values), or `default` when none is known."""
    known = [name for name in ROLES if name in names]
    return max(known, key=RANK.__getitem__) if known else default
