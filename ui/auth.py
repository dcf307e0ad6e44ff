"""Who is using the app, and what they may do: sign-in per `auth.mode` and the user's role.

`oidc` uses Streamlit's `st.login` (roles from the ID token's `roles_claim`, or the config's
`roles` map, which wins); `proxy` trusts the user header an auth proxy in front sets (the
app must be reachable only through it); `none` is the local demo: no sign-in, everyone is
admin, and a sidebar field says whom to act as, so four-eyes can be tried with two names.
Pages hide what a user may not do; the release actions check the role again regardless.
"""

from __future__ import annotations

import streamlit as st

from releases.roles import Actor, Permission, highest_role
from settings import Settings

__all__ = ["Actor", "can_export", "can_override", "can_release", "require_user"]

DEMO_USER_KEY = "demo_user"
DEMO_USER = "demo@localhost"


def _oidc_user(settings: Settings) -> Actor | None:
    if not st.user.get("is_logged_in"):
        return None
    name = str(st.user.get("email") or st.user.get("sub") or "")
    if not name:
        return None
    claim: object = st.user.get(settings.auth.roles_claim)
    if isinstance(claim, str):
        claimed = [claim]
    elif isinstance(claim, list | tuple):
        claimed = [str(value) for value in claim]
    else:
        claimed = []
    role = settings.roles.get(name) or highest_role(claimed, settings.auth.default_role)
    return Actor(name, role)


def _proxy_user(settings: Settings) -> Actor | None:
    name = st.context.headers.get(settings.auth.proxy_user_header)
    if not name:
        return None
    return Actor(name, settings.roles.get(name, settings.auth.default_role))


def signed_in_user(settings: Settings) -> Actor | None:
    """The user of this session, or None when nobody is signed in."""
    if settings.auth.mode == "oidc":
        return _oidc_user(settings)
    if settings.auth.mode == "proxy":
        return _proxy_user(settings)
    name = st.sidebar.text_input(
        "Acting as",
        value=DEMO_USER,
        key=DEMO_USER_KEY,
        help="Sign-in is off: type any name to act as that user (every user is admin).",
    )
    return Actor(name.strip() or DEMO_USER, "admin")


def require_user(settings: Settings) -> Actor:
    """The signed-in user; otherwise offer sign-in (or explain) and stop the page."""
    actor = signed_in_user(settings)
    if actor is None:
        if settings.auth.mode == "oidc":
            st.info("Sign in to see release control.", icon=":material/login:")
            st.button("Log in", key="login", on_click=st.login)
        else:
            st.error(
                f"No `{settings.auth.proxy_user_header}` header came from the sign-in proxy; "
                "open Flightdeck through the proxy."
            )
        st.stop()
    st.sidebar.caption(f"Signed in as **{actor.name}** ({actor.role})")
    if settings.auth.mode == "oidc":
        st.sidebar.button("Log out", key="logout", on_click=st.logout)
    return actor


def can_release(actor: Actor) -> bool:
    """May request, approve, reject, promote, roll back, hold and unhold."""
    return actor.can(Permission.release)


def can_override(actor: Actor) -> bool:
    """May promote past a failed gate or a freeze window (with a reason)."""
    return actor.can(Permission.override)


def can_export(actor: Actor) -> bool:
    """May download data exports."""
    return actor.can(Permission.export)
