"""Release actions (DESIGN §7): request, approve, reject, promote, roll back, hold, unhold.

Every action runs the same way, in one transaction:

1. lock the (service, environment) row, so actions on one environment run one at a time
   across processes (a row lock on PostgreSQL; on SQLite the lock row's write is the
   transaction's first statement, which takes the database's write lock at once);
2. look up the idempotency key: a key seen before returns the stored result and does
   nothing else, so a double click, a rerun or a retry has one effect;
3. check the role, the state, and `expected_current_version` (a stale screen cannot act);
4. call the deploy backend, if the action deploys;
5. store the action under its key and write exactly one audit event with the outcome,
   refusals and failures included.

Actions return an `ActionResult` rather than raise, so every caller (page, CLI, test)
sees refusals the same way. Overriding a failed gate or a freeze needs the admin role
and a reason; approvals are never overridden. A rollback never waits on the gate, and it
holds the environment so automation does not redeploy the bad version.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, cast

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from errors import FlightdeckError
from models import AuditEvent, Deployment, ReleaseAction, ReleaseEnvironment
from releases import environments
from releases.backends import backend_for, config_for
from releases.backends.base import BackendRequest, BackendResult, FinalState, Reconcilable
from releases.checks import Status
from releases.gates import GateEvaluation, evaluate, production_of, target_for
from releases.notify import Announcement, announce
from releases.roles import Actor, Permission
from settings import Settings

logger = logging.getLogger(__name__)

Outcome = Literal["succeeded", "dispatched", "pending", "noop", "refused", "failed"]
# Deployments Flightdeck records itself (the noop backend) carry this source.
DEPLOYMENT_SOURCE = "flightdeck"


@dataclass(frozen=True)
class ActionResult:
    """How an action ended.

    Attributes:
        key: The idempotency key.
        kind: The action.
        outcome: succeeded, dispatched (the backend accepted it, in flight), pending (a
            promotion request waiting for approvals), noop (nothing to do), refused
            (not allowed, nothing done) or failed (the backend did not do it).
        message: One line for the user.
        action_id: The stored action's id (a request's id is what approvals point at).
        replayed: The key had been used before; this is the stored result, nothing was done.
        backend_ref: The backend's id for the operation, if any.
        backend_url: Where to follow it, if anywhere.
    """

    key: str
    kind: str
    outcome: Outcome
    message: str
    action_id: int | None = None
    replayed: bool = False
    backend_ref: str | None = None
    backend_url: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the action did (or started) what was asked, or found nothing to do."""
        return self.outcome in {"succeeded", "dispatched", "pending", "noop"}


class _Refusal(Exception):
    """Raised inside an action's body to end it as refused with this message."""


@dataclass
class _Step:
    """What an action's body decided; the runner stores and audits it."""

    outcome: Outcome
    message: str
    before: str | None = None
    after: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Call:
    """The parameters every action stores, whatever its kind."""

    actor: Actor
    kind: str
    service: str
    environment: str
    key: str
    target_version: str | None = None
    expected_current_version: str | None = None
    reason: str | None = None
    request_id: int | None = None


def _now() -> datetime:
    return datetime.now(UTC)


def _lock(session: Session, service: str, environment: str, now: datetime) -> ReleaseEnvironment:
    """Take the (service, environment) lock for the rest of the transaction."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # A write first: on SQLite it takes the database write lock before anything is read.
    statement = insert(ReleaseEnvironment).values(
        service=service, environment=environment, locked_at=now
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["service", "environment"], set_={"locked_at": now}
        )
    )
    query = select(ReleaseEnvironment).where(
        ReleaseEnvironment.service == service, ReleaseEnvironment.environment == environment
    )
    if dialect == "postgresql":
        query = query.with_for_update()
    return session.scalars(query).one()


def _environment_row(session: Session, service: str, environment: str) -> ReleaseEnvironment:
    """The lock row `_run` already holds."""
    return session.scalars(
        select(ReleaseEnvironment).where(
            ReleaseEnvironment.service == service, ReleaseEnvironment.environment == environment
        )
    ).one()


def _exists(session: Session, action_id: int | None) -> bool:
    return action_id is not None and session.get(ReleaseAction, action_id) is not None


def _stored(action: ReleaseAction) -> ActionResult:
    """The result first returned under this action's key."""
    # A request's state moves on (promoted, rejected, superseded) after it was made;
    # its own outcome was `pending`, unless it was refused.
    if action.kind == "request" and action.state != "refused":
        outcome: Outcome = "pending"
    else:
        outcome = cast(Outcome, action.state)
    return ActionResult(
        key=action.idempotency_key,
        kind=action.kind,
        outcome=outcome,
        message=action.message or "",
        action_id=action.id,
        replayed=True,
        backend_ref=action.backend_ref,
        backend_url=action.backend_url,
    )


def _audit(session: Session, call: _Call, step: _Step, now: datetime, **extra: Any) -> None:
    details = (
        {
            "key": call.key,
            "role": call.actor.role,
            "target_version": call.target_version,
            "expected_current_version": call.expected_current_version,
            "before": step.before,
            "after": step.after,
            "reason": call.reason,
            "message": step.message,
            "request_id": call.request_id,
        }
        | step.details
        | extra
    )
    session.add(
        AuditEvent(
            at=now,
            actor=call.actor.name,
            action=call.kind,
            subject=f"{call.service}/{call.environment}",
            outcome=step.outcome,
            details=details,
        )
    )


def _run(
    sessions: sessionmaker[Session],
    call: _Call,
    body: Callable[[Session, ReleaseAction], _Step],
    settings: Settings | None = None,
) -> ActionResult:
    """Run the action under its lock, then announce it if it was new (not a replay)."""
    result = _run_locked(sessions, call, body)
    if settings is not None and not result.replayed and result.action_id is not None:
        announce(
            settings,
            Announcement(
                call.key,
                call.kind,
                call.service,
                call.environment,
                call.actor.name,
                result.outcome,
                result.message,
            ),
        )
    return result


def _run_locked(
    sessions: sessionmaker[Session], call: _Call, body: Callable[[Session, ReleaseAction], _Step]
) -> ActionResult:
    """Lock, de-duplicate, run `body`, store the action and its one audit event."""
    now = _now()
    with sessions.begin() as session:
        _lock(session, call.service, call.environment, now)
        existing = session.scalars(
            select(ReleaseAction).where(ReleaseAction.idempotency_key == call.key)
        ).first()
        if existing is not None:
            same = (existing.kind, existing.service, existing.environment) == (
                call.kind,
                call.service,
                call.environment,
            )
            if same:
                return _stored(existing)
            step = _Step("refused", "this idempotency key was already used for another action")
            _audit(session, call, step, now)
            return ActionResult(call.key, call.kind, "refused", step.message)
        action = ReleaseAction(
            idempotency_key=call.key,
            kind=call.kind,
            service=call.service,
            environment=call.environment,
            target_version=call.target_version,
            expected_current_version=call.expected_current_version,
            # An unknown request id is refused below; it cannot be linked to.
            request_id=call.request_id if _exists(session, call.request_id) else None,
            state="refused",
            requested_by=call.actor.name,
            reason=call.reason,
            created_at=now,
            updated_at=now,
        )
        try:
            step = body(session, action)
        except _Refusal as refusal:
            step = _Step("refused", str(refusal))
        action.state = step.outcome
        action.message = step.message
        action.error = step.message if step.outcome in {"refused", "failed"} else None
        session.add(action)
        session.flush()
        _audit(session, call, step, now, action_id=action.id)
        logger.info(
            "%s %s/%s by %s: %s (%s)",
            call.kind,
            call.service,
            call.environment,
            call.actor.name,
            step.outcome,
            step.message,
        )
        return ActionResult(
            key=call.key,
            kind=call.kind,
            outcome=step.outcome,
            message=step.message,
            action_id=action.id,
            backend_ref=action.backend_ref,
            backend_url=action.backend_url,
        )


def _require(actor: Actor, permission: Permission, what: str) -> None:
    if not actor.can(permission):
        msg = f"{actor.name} is {actor.role}; {what} needs the {permission} permission"
        raise _Refusal(msg)


def _require_reason(reason: str | None, what: str) -> str:
    if reason is None or not reason.strip():
        msg = f"{what} needs a reason"
        raise _Refusal(msg)
    return reason.strip()


def _check_current(session: Session, call: _Call) -> environments.Running | None:
    current = environments.running(session, call.service, call.environment)
    running = current.version if current else None
    if running != call.expected_current_version:
        msg = (
            f"the screen was stale: {running or 'nothing'} runs in {call.environment} now, "
            f"not {call.expected_current_version or 'nothing'}; reload and decide again"
        )
        raise _Refusal(msg)
    return current


def _pending_request(session: Session, call: _Call) -> ReleaseAction:
    request = session.get(ReleaseAction, call.request_id) if call.request_id else None
    if (
        request is None
        or request.kind != "request"
        or ((request.service, request.environment) != (call.service, call.environment))
    ):
        msg = f"no promotion request #{call.request_id} for {call.service}/{call.environment}"
        raise _Refusal(msg)
    if request.state != "pending":
        msg = f"request #{request.id} is already {request.state}"
        raise _Refusal(msg)
    return request


def decisions(session: Session, request_id: int) -> tuple[list[str], list[str]]:
    """Who approved and who rejected a promotion request (distinct, in decision order)."""
    rows = session.execute(
        select(ReleaseAction.kind, ReleaseAction.requested_by)
        .where(
            ReleaseAction.request_id == request_id,
            ReleaseAction.kind.in_(["approve", "reject"]),
            ReleaseAction.state == "succeeded",
        )
        .order_by(ReleaseAction.id)
    )
    approvers: list[str] = []
    rejecters: list[str] = []
    for kind, who in rows:
        bucket = approvers if kind == "approve" else rejecters
        if who not in bucket:
            bucket.append(who)
    return approvers, rejecters


@dataclass(frozen=True)
class RequestDecisions:
    """A pending request's requester and decisions, for evaluating its gate elsewhere."""

    request_id: int
    requester: str
    approvers: list[str]
    rejecters: list[str]


def pending_decisions(
    session: Session, service: str, environment: str, version: str
) -> RequestDecisions | None:
    """The newest pending request to promote `version` into the stream, if there is one."""
    request = session.scalars(
        select(ReleaseAction)
        .where(
            ReleaseAction.kind == "request",
            ReleaseAction.service == service,
            ReleaseAction.environment == environment.lower(),
            ReleaseAction.target_version == version,
            ReleaseAction.state == "pending",
        )
        .order_by(ReleaseAction.id.desc())
    ).first()
    if request is None:
        return None
    approvers, rejecters = decisions(session, request.id)
    return RequestDecisions(request.id, request.requested_by, approvers, rejecters)


def _gate(
    session: Session, settings: Settings, call: _Call, version: str, request: ReleaseAction | None
) -> GateEvaluation:
    approvers, rejecters = decisions(session, request.id) if request else ([], [])
    target = target_for(
        session,
        settings,
        call.service,
        call.environment,
        version,
        requester=request.requested_by if request else None,
        approvers=approvers,
        rejecters=rejecters,
    )
    return evaluate(session, settings, target, _now())


def _key_of(service: str, environment: str) -> tuple[str, str]:
    return service, environment.lower()


def request_promotion(
    sessions: sessionmaker[Session],
    settings: Settings,
    *,
    actor: Actor,
    service: str,
    environment: str,
    version: str,
    expected_current_version: str | None,
    idempotency_key: str,
    reason: str | None = None,
) -> ActionResult:
    """Ask for `version` to be promoted into `environment`; older pending requests lapse.

    Returns:
        `pending` with the request's id (what approvals and the promotion name), or refused.
    """
    service, environment = _key_of(service, environment)
    call = _Call(
        actor,
        "request",
        service,
        environment,
        idempotency_key,
        version,
        expected_current_version,
        reason,
    )

    def body(session: Session, action: ReleaseAction) -> _Step:
        _require(actor, Permission.release, "requesting a promotion")
        current = _check_current(session, call)
        if current is not None and current.version == version:
            msg = f"{version} already runs in {environment}"
            raise _Refusal(msg)
        evaluation = _gate(session, settings, call, version, None)
        action.from_environment = evaluation.from_environment
        action.gate_evidence = evaluation.to_dict()
        superseded = session.scalars(
            select(ReleaseAction).where(
                ReleaseAction.kind == "request",
                ReleaseAction.service == service,
                ReleaseAction.environment == environment,
                ReleaseAction.state == "pending",
            )
        ).all()
        for older in superseded:
            older.state = "superseded"
            older.updated_at = _now()
        return _Step(
            "pending",
            f"promotion of {version} to {environment} requested (gate: {evaluation.verdict})",
            before=current.version if current else None,
            after=version,
            details={
                "gate_verdict": str(evaluation.verdict),
                "superseded": [older.id for older in superseded],
                "from_environment": evaluation.from_environment,
            },
        )

    return _run(sessions, call, body, settings)


def _lookup_stream(sessions: sessionmaker[Session], request_id: int) -> tuple[str, str] | None:
    with sessions() as session:
        request = session.get(ReleaseAction, request_id)
        return (request.service, request.environment) if request else None


def _decide(
    sessions: sessionmaker[Session],
    kind: Literal["approve", "reject"],
    *,
    actor: Actor,
    request_id: int,
    idempotency_key: str,
    comment: str | None,
    settings: Settings | None,
) -> ActionResult:
    stream = _lookup_stream(sessions, request_id) or ("?", "?")
    call = _Call(actor, kind, *stream, idempotency_key, reason=comment, request_id=request_id)

    def body(session: Session, action: ReleaseAction) -> _Step:
        _require(actor, Permission.release, f"{kind} a promotion")
        request = _pending_request(session, call)
        action.target_version = request.target_version
        approvers, rejecters = decisions(session, request.id)
        if actor.name in approvers or actor.name in rejecters:
            msg = f"{actor.name} already decided on request #{request.id}"
            raise _Refusal(msg)
        if kind == "approve" and actor.name == request.requested_by:
            msg = f"{actor.name} requested this promotion and cannot approve it (four eyes)"
            raise _Refusal(msg)
        if kind == "reject":
            _require_reason(comment, "a rejection")
            request.state = "rejected"
            request.updated_at = _now()
        verb = "approved" if kind == "approve" else "rejected"
        return _Step(
            "succeeded",
            f"{verb} promotion of {request.target_version} (request #{request.id})",
            details={"requested_by": request.requested_by},
        )

    return _run(sessions, call, body, settings)


def approve(
    sessions: sessionmaker[Session],
    *,
    actor: Actor,
    request_id: int,
    idempotency_key: str,
    comment: str | None = None,
    settings: Settings | None = None,
) -> ActionResult:
    """Approve a pending promotion request; the requester cannot approve their own."""
    return _decide(
        sessions,
        "approve",
        actor=actor,
        request_id=request_id,
        idempotency_key=idempotency_key,
        comment=comment,
        settings=settings,
    )


def reject(
    sessions: sessionmaker[Session],
    *,
    actor: Actor,
    request_id: int,
    idempotency_key: str,
    comment: str | None,
    settings: Settings | None = None,
) -> ActionResult:
    """Reject a pending promotion request (a comment is required); the request ends."""
    return _decide(
        sessions,
        "reject",
        actor=actor,
        request_id=request_id,
        idempotency_key=idempotency_key,
        comment=comment,
        settings=settings,
    )


def _deploy(
    session: Session,
    settings: Settings,
    call: _Call,
    action: ReleaseAction,
    request: BackendRequest,
) -> BackendResult | str:
    """Call the backend; return its result, or the failure message (never raises)."""
    action.backend = config_for(settings, call.service, call.environment).kind
    try:
        backend = backend_for(settings, call.service, call.environment)
        result = (
            backend.rollback(request) if request.action == "rollback" else backend.promote(request)
        )
    except FlightdeckError as exc:
        return str(exc)
    # Broad on purpose: whatever the backend raised, the attempt must be audited as failed.
    except Exception as exc:
        logger.exception("%s backend failed on %s", action.backend, call.key)
        return f"{action.backend} backend failed unexpectedly ({type(exc).__name__})"
    action.backend_ref, action.backend_url = result.ref, result.url
    if result.record:
        # Nothing else will report this deployment, so Flightdeck records it itself.
        now = _now()
        session.add(
            Deployment(
                source=DEPLOYMENT_SOURCE,
                external_id=call.key,
                service=call.service,
                environment=call.environment,
                sha=request.sha,
                version=request.version,
                status="success",
                status_raw=action.backend,
                kind="rollback" if request.action == "rollback" else "normal",
                started_at=now,
                finished_at=now,
                actor=call.actor.name,
                source_updated_at=now,
            )
        )
    return result


def promote(
    sessions: sessionmaker[Session],
    settings: Settings,
    *,
    actor: Actor,
    request_id: int,
    expected_current_version: str | None,
    idempotency_key: str,
    override_reason: str | None = None,
) -> ActionResult:
    """Promote an approved request once the gate passes.

    An admin may pass `override_reason` to promote past failed or unsure checks and
    freeze windows (recorded in the audit event); the approvals are never overridden.
    A held environment refuses promotions until it is unholded.
    """
    stream = _lookup_stream(sessions, request_id) or ("?", "?")
    call = _Call(
        actor,
        "promote",
        *stream,
        idempotency_key,
        None,
        expected_current_version,
        override_reason,
        request_id,
    )

    def body(session: Session, action: ReleaseAction) -> _Step:
        _require(actor, Permission.release, "promoting")
        request = _pending_request(session, call)
        version = str(request.target_version)
        action.target_version = version
        current = _check_current(session, call)
        hold = environments.hold_of(session, call.service, call.environment)
        if hold is not None:
            msg = f"{call.environment} is held by {hold.by} ({hold.reason}); unhold it first"
            raise _Refusal(msg)
        evaluation = _gate(session, settings, call, version, request)
        action.gate_evidence = evaluation.to_dict()
        approvals = [c for c in evaluation.checks if c.name == "approvals"]
        if approvals and approvals[0].status is not Status.passed:
            msg = f"approvals: {approvals[0].summary}"
            raise _Refusal(msg)
        problems = evaluation.blocking_problems(include_approvals=False)
        overridden = False
        if problems:
            listed = "; ".join(f"{c.name}: {c.summary}" for c in problems)
            if override_reason is None:
                msg = f"gate is {evaluation.verdict}: {listed}"
                raise _Refusal(msg)
            _require(actor, Permission.override, "overriding the gate")
            _require_reason(override_reason, "an override")
            overridden = True
        approvers, _ = decisions(session, request.id)
        outcome = _deploy(
            session,
            settings,
            call,
            action,
            BackendRequest(
                call.key,
                "promote",
                call.service,
                call.environment,
                version,
                evaluation.sha,
                expected_current_version,
                actor.name,
                approvers,
                request.reason,
                overridden,
            ),
        )
        details: dict[str, Any] = {
            "gate_verdict": str(evaluation.verdict),
            "override": overridden,
            "overridden_checks": [c.name for c in problems] if overridden else [],
            "backend": action.backend,
            "backend_ref": action.backend_ref,
            "approvers": approvers,
        }
        before = current.version if current else None
        if isinstance(outcome, str):
            return _Step("failed", outcome, before, version, details)
        request.state = "promoted"
        request.updated_at = _now()
        return _Step(outcome.state, outcome.message, before, version, details)

    return _run(sessions, call, body, settings)


def rollback(
    sessions: sessionmaker[Session],
    settings: Settings,
    *,
    actor: Actor,
    service: str,
    environment: str,
    target_version: str,
    expected_current_version: str | None,
    reason: str | None,
    idempotency_key: str,
    confirmation: str | None = None,
) -> ActionResult:
    """Roll back to a chosen earlier version, then hold the environment.

    The target must have run successfully in the environment before; the running version
    gives a no-op. Production environments need `confirmation` to be the service's name.
    The gate is evaluated for the record only: it never blocks a rollback.
    """
    service, environment = _key_of(service, environment)
    call = _Call(
        actor,
        "rollback",
        service,
        environment,
        idempotency_key,
        target_version,
        expected_current_version,
        reason,
    )

    def body(session: Session, action: ReleaseAction) -> _Step:
        _require(actor, Permission.release, "rolling back")
        why = _require_reason(reason, "a rollback")
        if environment in production_of(settings, service) and confirmation != service:
            msg = f"rolling back production needs the service name {service!r} typed to confirm"
            raise _Refusal(msg)
        current = _check_current(session, call)
        if current is not None and current.version == target_version:
            return _Step(
                "noop",
                f"{target_version} already runs in {environment}; nothing done",
                target_version,
                target_version,
            )
        targets = {
            t.version: t for t in environments.rollback_targets(session, service, environment)
        }
        if target_version not in targets:
            msg = (
                f"{target_version} never ran successfully in {environment}; pick an earlier version"
            )
            raise _Refusal(msg)
        evidence = _evidence_only(session, settings, call, target_version)
        action.gate_evidence = evidence
        outcome = _deploy(
            session,
            settings,
            call,
            action,
            BackendRequest(
                call.key,
                "rollback",
                service,
                environment,
                target_version,
                targets[target_version].sha,
                expected_current_version,
                actor.name,
                [],
                why,
            ),
        )
        before = current.version if current else None
        details = {
            "backend": action.backend,
            "backend_ref": action.backend_ref,
            "gate_verdict": evidence.get("verdict"),
        }
        if isinstance(outcome, str):
            return _Step("failed", outcome, before, target_version, details)
        lock = _environment_row(session, service, environment)
        lock.held_by, lock.held_since = actor.name, _now()
        lock.hold_reason = f"rolled back {before} -> {target_version}: {why}"
        return _Step(
            outcome.state,
            f"{outcome.message}; {environment} is now held",
            before,
            target_version,
            details | {"hold": True},
        )

    return _run(sessions, call, body, settings)


def _evidence_only(
    session: Session, settings: Settings, call: _Call, version: str
) -> dict[str, Any]:
    # The rollback's own safety: gate trouble of any kind is recorded, never raised.
    try:
        with session.begin_nested():
            return _gate(session, settings, call, version, None).to_dict()
    # Broad on purpose: evidence is best effort, and the rollback goes on without it.
    except Exception as exc:
        logger.exception("gate evidence for rollback %s failed", call.key)
        return {"verdict": None, "error": type(exc).__name__}


def _set_hold(
    sessions: sessionmaker[Session],
    kind: Literal["hold", "unhold"],
    *,
    actor: Actor,
    service: str,
    environment: str,
    reason: str | None,
    idempotency_key: str,
    settings: Settings | None = None,
) -> ActionResult:
    service, environment = _key_of(service, environment)
    call = _Call(actor, kind, service, environment, idempotency_key, reason=reason)

    def body(session: Session, action: ReleaseAction) -> _Step:
        _require(actor, Permission.release, f"{kind}ing an environment")
        why = _require_reason(reason, f"{'a hold' if kind == 'hold' else 'unholding'}")
        lock = _environment_row(session, service, environment)
        held = lock.held_by is not None
        before = "held" if held else "not held"
        if (kind == "hold") == held:
            return _Step("noop", f"{environment} is already {before}", before, before)
        if kind == "hold":
            lock.held_by, lock.held_since, lock.hold_reason = actor.name, _now(), why
            return _Step("succeeded", f"{environment} held: {why}", before, "held")
        previous = {"held_by": lock.held_by, "hold_reason": lock.hold_reason}
        lock.held_by = lock.held_since = lock.hold_reason = None
        return _Step("succeeded", f"{environment} unheld", before, "not held", previous)

    return _run(sessions, call, body, settings)


def hold(
    sessions: sessionmaker[Session],
    *,
    actor: Actor,
    service: str,
    environment: str,
    reason: str | None,
    idempotency_key: str,
    settings: Settings | None = None,
) -> ActionResult:
    """Hold an environment: promotions are refused until someone unholds it."""
    return _set_hold(
        sessions,
        "hold",
        actor=actor,
        service=service,
        environment=environment,
        reason=reason,
        idempotency_key=idempotency_key,
        settings=settings,
    )


def unhold(
    sessions: sessionmaker[Session],
    *,
    actor: Actor,
    service: str,
    environment: str,
    reason: str | None,
    idempotency_key: str,
    settings: Settings | None = None,
) -> ActionResult:
    """Release an environment's hold (its own audited action)."""
    return _set_hold(
        sessions,
        "unhold",
        actor=actor,
        service=service,
        environment=environment,
        reason=reason,
        idempotency_key=idempotency_key,
        settings=settings,
    )


SYSTEM_ACTOR = Actor("flightdeck", "admin")


def reconcile(sessions: sessionmaker[Session], settings: Settings) -> list[ActionResult]:
    """Ask the backends how dispatched promotions and rollbacks ended, and record it.

    Each action that reached a final state gets it stored and one `reconcile` audit event
    (actor `flightdeck`); actions still running, or whose backend cannot tell, are left as
    they are. A backend that cannot be asked is logged and tried again next time.

    Returns:
        One result per action that reached its final state.
    """
    with sessions() as session:
        dispatched = session.scalars(
            select(ReleaseAction)
            .where(
                ReleaseAction.state == "dispatched",
                ReleaseAction.kind.in_(["promote", "rollback"]),
                ReleaseAction.backend_ref.is_not(None),
            )
            .order_by(ReleaseAction.id)
        ).all()
    finished = []
    for action in dispatched:
        try:
            backend = backend_for(settings, action.service, action.environment)
            if not isinstance(backend, Reconcilable) or action.backend != backend.name:
                continue
            state = backend.status(str(action.backend_ref))
        except FlightdeckError as exc:
            logger.warning("cannot reconcile action %s: %s", action.id, exc)
            continue
        if state is not None:
            finished.append(_settle(sessions, action, state))
    return [result for result in finished if result is not None]


def _settle(
    sessions: sessionmaker[Session], seen: ReleaseAction, state: FinalState
) -> ActionResult | None:
    now = _now()
    with sessions.begin() as session:
        # The lock first: on SQLite a read before the first write could not be upgraded.
        _lock(session, seen.service, seen.environment, now)
        action = session.get(ReleaseAction, seen.id)
        if action is None:
            return None
        if action.state != "dispatched":  # another reconciler got there first
            return None
        action.state, action.updated_at = state, now
        action.message = f"{action.kind} of {action.target_version} {state} ({action.backend})"
        if state == "failed":
            action.error = action.message
        call = _Call(
            SYSTEM_ACTOR,
            "reconcile",
            action.service,
            action.environment,
            action.idempotency_key,
            action.target_version,
        )
        step = _Step(
            state,
            action.message,
            "dispatched",
            state,
            {
                "action_id": action.id,
                "kind": action.kind,
                "backend": action.backend,
                "backend_ref": action.backend_ref,
                "backend_url": action.backend_url,
            },
        )
        _audit(session, call, step, now)
        return ActionResult(
            action.idempotency_key,
            action.kind,
            state,
            action.message,
            action.id,
            backend_ref=action.backend_ref,
            backend_url=action.backend_url,
        )
