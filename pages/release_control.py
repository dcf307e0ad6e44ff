"""Releases: each environment of a service, its holds and freezes, pending promotions, actions.

A view: widgets call one `ui.releases` function each and render what comes back. Buttons a
user may not use are not drawn; the actions refuse them anyway. Dialog and form buttons act
in `on_click` callbacks, which run before the rerun (and under AppTest).
"""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from errors import DatabaseUnavailable
from ui import auth
from ui import releases as release_ui
from ui.banners import database_unavailable
from ui.context import settings_or_stop

RESULT_KEY = "release_result"
STATUS_MARK = {"pass": "✓ pass", "needs_human": "? needs human", "fail": "✗ fail"}


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "unknown time"


def _show(result: release_ui.ActionResult) -> None:
    st.session_state[RESULT_KEY] = (result.outcome, result.message)


def _text(key: str) -> str | None:
    value = st.session_state.get(key)
    return str(value).strip() if value else None


def _request(actor: auth.Actor, service: str, env: release_ui.EnvironmentBoard) -> None:
    version = str(env.candidate)
    current = env.running.version if env.running else None
    # No revision in this key: asking twice for the same version is never a new intent.
    key = release_ui.intent_key(actor, "request", service, env.name, version, current)
    _show(release_ui.request_promotion(actor, service, env.name, version, current, key))


def _hold(actor: auth.Actor, service: str, env: release_ui.EnvironmentBoard, held: bool) -> None:
    reason = _text(f"hold_reason_{env.name}")
    key = release_ui.intent_key(
        actor, "hold" if held else "unhold", service, env.name, env.revision
    )
    _show(release_ui.set_hold(actor, service, env.name, held, reason, key))


def _decide(
    actor: auth.Actor, env: release_ui.EnvironmentBoard, request_id: int, decision: str
) -> None:
    comment = _text(f"comment_{request_id}")
    # One decision per user and request, however often the button is pressed.
    key = release_ui.intent_key(actor, decision, request_id)
    decide = release_ui.approve if decision == "approve" else release_ui.reject
    _show(decide(actor, request_id, comment, key))


def _promote(
    actor: auth.Actor, env: release_ui.EnvironmentBoard, request_id: int, override: bool
) -> None:
    current = env.running.version if env.running else None
    reason = _text(f"override_reason_{request_id}") if override else None
    key = release_ui.intent_key(actor, "promote", request_id, override, env.revision)
    # An override always passes a reason (maybe empty), so the action can refuse a blank one.
    _show(release_ui.promote(actor, request_id, current, key, (reason or "") if override else None))


def _rollback(actor: auth.Actor, service: str, env: release_ui.EnvironmentBoard) -> None:
    target = str(st.session_state.get("rb_target"))
    current = env.running.version if env.running else None
    key = release_ui.intent_key(actor, "rollback", service, env.name, target, env.revision)
    _show(
        release_ui.rollback(
            actor,
            service,
            env.name,
            target,
            current,
            _text("rb_reason"),
            _text("rb_confirm_name"),
            key,
        )
    )


def _checklist(gate: release_ui.GateEvaluation, key: str) -> None:
    if not gate.policy:
        st.caption("No gate policy for this environment: nothing to check.")
        return
    st.dataframe(
        [
            {
                "check": check.name,
                "result": STATUS_MARK[str(check.status)],
                "mode": "blocking" if check.blocking else "advisory",
                "why": check.summary,
            }
            for check in gate.checks
        ],
        hide_index=True,
        key=key,
    )
    st.caption(f"Gate: **{gate.verdict}**, evaluated {_when(gate.evaluated_at)}")
    with st.expander("Evidence"):
        st.json(gate.to_dict()["checks"], expanded=False)


@st.dialog("Roll back", width="large")
def _rollback_dialog(actor: auth.Actor, service: str, env: release_ui.EnvironmentBoard) -> None:
    running = env.running.version if env.running else "nothing"
    targets = {target.version: target for target in env.rollback_targets}
    target = st.selectbox("Roll back to", list(targets), key="rb_target")
    chosen = targets[target]
    st.markdown(
        f"**{service} / {env.name}** runs **{running}** now. After the rollback it runs "
        f"**{target}** (deployed {_when(chosen.since)} by {chosen.by or 'unknown'}), and "
        f"{env.name} is held until someone unholds it."
    )
    evidence = release_ui.preview_gate(service, env.name, target)
    if evidence is None:
        st.warning("The gate's evidence cannot be read right now; the rollback can go ahead.")
    else:
        _checklist(evidence, "rb_checks")
    st.caption("The gate is shown for the record; it never blocks a rollback.")
    st.text_input("Reason", key="rb_reason", placeholder="What went wrong")
    if env.production:
        st.text_input(f"Type {service} to confirm a production rollback", key="rb_confirm_name")
    if st.button(
        f"Roll back to {target}",
        key="rb_confirm",
        type="primary",
        on_click=_rollback,
        args=(actor, service, env),
    ):
        st.rerun()


def _environment(actor: auth.Actor, service: str, env: release_ui.EnvironmentBoard) -> None:
    can_act = auth.can_release(actor)
    with st.container(border=True):
        st.subheader(env.name)
        if env.production:
            st.badge("production", icon=":material/shield:", color="red")
        if env.hold:
            st.warning(
                f"Held by {env.hold.by} since {_when(env.hold.since)}: {env.hold.reason}",
                icon=":material/front_hand:",
            )
        for freeze in env.freezes:
            st.error(
                f"Frozen until {_when(freeze.ends)}: {freeze.window.reason or 'freeze window'}",
                icon=":material/ac_unit:",
            )
        if env.in_flight:
            flight = env.in_flight
            follow = f" ([follow it]({flight.url}))" if flight.url else ""
            st.info(
                f"Deploying **{flight.version}** ({flight.kind} by {flight.by} at "
                f"{_when(flight.at)}){follow}; waiting for the deployment to be reported.",
                icon=":material/hourglass_top:",
            )
        if env.running:
            st.markdown(
                f"Running **{env.running.version}** since {_when(env.running.since)}"
                f" by {env.running.by or 'unknown'}"
            )
        else:
            st.caption("Nothing known to run here yet.")
        if can_act:
            columns = st.columns(3)
            pending_versions = {request.version for request in env.pending}
            if env.in_flight:
                pending_versions.add(env.in_flight.version)
            if env.candidate and env.candidate not in pending_versions:
                columns[0].button(
                    f"Request promotion of {env.candidate}",
                    key=f"request_{env.name}",
                    on_click=_request,
                    args=(actor, service, env),
                )
            if env.rollback_targets and columns[1].button(
                "Roll back…", key=f"rollback_open_{env.name}"
            ):
                _rollback_dialog(actor, service, env)
            reason = columns[2].text_input("Hold reason", key=f"hold_reason_{env.name}")
            # Hold and Unhold sit in different places, so a double click cannot undo itself.
            place = columns[1] if env.hold else columns[2]
            place.button(
                "Unhold" if env.hold else "Hold",
                key=f"{'unhold' if env.hold else 'hold'}_{env.name}",
                on_click=_hold,
                args=(actor, service, env, env.hold is None),
                disabled=not reason,
            )
        for request in env.pending:
            _pending(actor, env, request)


def _pending(
    actor: auth.Actor, env: release_ui.EnvironmentBoard, request: release_ui.PendingRequest
) -> None:
    st.markdown(
        f"**Promote {request.version}** {request.from_environment or '?'} → {env.name}, "
        f"requested by {request.requested_by} at {_when(request.requested_at)}; "
        f"approvals {len(request.approvers)} of {request.needed}"
        + (f" ({', '.join(request.approvers)})" if request.approvers else "")
    )
    _checklist(request.gate, f"checks_{request.id}")
    st.button("Re-evaluate", key=f"reevaluate_{request.id}")
    if not auth.can_release(actor):
        return
    st.text_input("Comment", key=f"comment_{request.id}")
    columns = st.columns(3)
    # The requester cannot approve their own request, nor anyone twice: no button then.
    may_approve = actor.name != request.requested_by and actor.name not in request.approvers
    if may_approve:
        columns[0].button(
            "Approve",
            key=f"approve_{request.id}",
            on_click=_decide,
            args=(actor, env, request.id, "approve"),
        )
    columns[1].button(
        "Reject",
        key=f"reject_{request.id}",
        on_click=_decide,
        args=(actor, env, request.id, "reject"),
    )
    columns[2].button(
        f"Promote {request.version}",
        key=f"promote_{request.id}",
        type="primary",
        on_click=_promote,
        args=(actor, env, request.id, False),
    )
    if auth.can_override(actor) and not request.gate.passed:
        st.text_input("Override reason (admin)", key=f"override_reason_{request.id}")
        st.button(
            "Promote with override",
            key=f"override_{request.id}",
            on_click=_promote,
            args=(actor, env, request.id, True),
        )


st.title("Releases")
settings = settings_or_stop()
user = auth.require_user(settings)
try:
    services = release_ui.services()
except DatabaseUnavailable as exc:
    database_unavailable(exc)
if not services:
    st.info(
        "No delivery data yet: no service has deployments. Load the demo organisation with "
        "`python cli.py demo`, or add services to `flightdeck.toml`."
    )
    st.stop()
service = st.selectbox("Service", services, key="release_service")
if RESULT_KEY in st.session_state:
    outcome, message = st.session_state.pop(RESULT_KEY)
    show = {"refused": st.warning, "failed": st.error}.get(outcome, st.success)
    show(f"{outcome}: {message}")
try:
    environments = release_ui.board(service)
except DatabaseUnavailable as exc:
    database_unavailable(exc)
if not auth.can_release(user):
    st.caption(f"You are {user.role}: release actions need the captain role.")
for environment in environments:
    _environment(user, service, environment)
