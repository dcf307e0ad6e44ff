"""Release actions on real databases: the flows, four eyes, idempotency, audit, fail-safe."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from models import AuditEvent, Deployment, ReleaseAction
from releases import actions
from releases.actions import ActionResult
from releases.environments import hold_of, running
from releases.roles import Actor
from settings import Settings
from tests.releases.data import deployment, incident, settings_from, store

ANA = Actor("ana@acme.example", "captain")
BO = Actor("bo@acme.example", "captain")
CY = Actor("cy@acme.example", "captain")
LEE = Actor("lee@acme.example", "admin")
VIC = Actor("vic@acme.example", "analyst")
T0 = datetime.now(UTC) - timedelta(days=3)
POLICY = """
[services.api]
environments = ["staging", "production"]

[[gates]]
service = "api"
environment = "production"
approvals = {approvals}
[gates.checks]
open_incidents = {{ min_severity = "sev2" }}
{freeze}
"""


def policy(approvals: int = 1, freeze: str = "") -> Settings:
    return settings_from(POLICY.format(approvals=approvals, freeze=freeze))


def frozen_now(zone: str = "Europe/Berlin") -> str:
    """A one-off freeze around the real current time, written in local time of `zone`."""
    from zoneinfo import ZoneInfo

    local = datetime.now(ZoneInfo(zone)).replace(tzinfo=None)
    start, end = local - timedelta(hours=1), local + timedelta(hours=1)
    return (
        f'[[gates.freezes]]\ntimezone = "{zone}"\nstart = "{start:%Y-%m-%dT%H:%M}"\n'
        f'end = "{end:%Y-%m-%dT%H:%M}"\nreason = "board meeting"\n'
    )


def key() -> str:
    return uuid.uuid4().hex


def seed(sessions: sessionmaker[Session]) -> None:
    """1.0 then 1.1 ran in production; 1.2 is in staging."""
    store(
        sessions,
        deployment("production", "1.0", "aaaa0000", T0),
        deployment("production", "1.1", "aaaa1111", T0 + timedelta(days=1)),
        deployment("staging", "1.2", "aaaa2222", T0 + timedelta(days=2)),
    )


def audit(sessions: sessionmaker[Session]) -> list[AuditEvent]:
    with sessions() as session:
        return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def current(sessions: sessionmaker[Session]) -> str | None:
    with sessions() as session:
        found = running(session, "api", "production")
        return found.version if found else None


def request(
    sessions: sessionmaker[Session], settings: Settings, who: Actor = ANA, version: str = "1.2"
) -> ActionResult:
    return actions.request_promotion(
        sessions,
        settings,
        actor=who,
        service="api",
        environment="production",
        version=version,
        expected_current_version="1.1",
        idempotency_key=key(),
    )


def test_request_approve_by_a_second_captain_then_promote(
    sessions: sessionmaker[Session],
) -> None:
    seed(sessions)
    settings = policy()

    asked = request(sessions, settings)
    approved = actions.approve(
        sessions, actor=BO, request_id=asked.action_id or 0, idempotency_key=key(), comment="lgtm"
    )
    promoted = actions.promote(
        sessions,
        settings,
        actor=ANA,
        request_id=asked.action_id or 0,
        expected_current_version="1.1",
        idempotency_key=key(),
    )

    assert (asked.outcome, approved.outcome, promoted.outcome) == (
        "pending",
        "succeeded",
        "succeeded",
    )
    assert current(sessions) == "1.2"
    events = audit(sessions)
    assert [(e.action, e.actor, e.outcome) for e in events] == [
        ("request", ANA.name, "pending"),
        ("approve", BO.name, "succeeded"),
        ("promote", ANA.name, "succeeded"),
    ]
    assert events[2].subject == "api/production"
    assert (events[2].details["before"], events[2].details["after"]) == ("1.1", "1.2")
    assert events[2].details["approvers"] == [BO.name]
    with sessions() as session:
        stored = session.get(ReleaseAction, asked.action_id)
        assert stored is not None and stored.state == "promoted"
        assert stored.from_environment == "staging"
        recorded = session.scalars(
            select(Deployment).where(Deployment.source == "flightdeck")
        ).one()
        assert (recorded.version, recorded.sha, recorded.actor) == ("1.2", "aaaa2222", ANA.name)


def test_the_same_key_twice_is_one_effect_with_the_same_result(
    sessions: sessionmaker[Session],
) -> None:
    seed(sessions)
    settings = policy(approvals=0)
    asked = request(sessions, settings)
    promote_key = key()

    first, second = (
        actions.promote(
            sessions,
            settings,
            actor=ANA,
            request_id=asked.action_id or 0,
            expected_current_version="1.1",
            idempotency_key=promote_key,
        )
        for _ in range(2)
    )

    assert (first.outcome, second.outcome) == ("succeeded", "succeeded")
    assert (first.action_id, first.replayed, second.replayed) == (second.action_id, False, True)
    assert second.message == first.message
    with sessions() as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(Deployment)
                .where(Deployment.source == "flightdeck")
            )
            == 1
        )
    assert [e.action for e in audit(sessions)] == ["request", "promote"]


def test_a_key_reused_for_another_action_is_refused(sessions: sessionmaker[Session]) -> None:
    seed(sessions)
    settings = policy()
    asked = request(sessions, settings)

    reused = actions.hold(
        sessions,
        actor=ANA,
        service="api",
        environment="production",
        reason="x",
        idempotency_key=asked.key,
    )

    assert (reused.outcome, reused.message) == (
        "refused",
        "this idempotency key was already used for another action",
    )
    assert [e.outcome for e in audit(sessions)] == ["pending", "refused"]


def _self_approval(
    sessions: sessionmaker[Session], settings: Settings, request_id: int
) -> ActionResult:
    return actions.approve(sessions, actor=ANA, request_id=request_id, idempotency_key=key())


def _wrong_role(
    sessions: sessionmaker[Session], settings: Settings, request_id: int
) -> ActionResult:
    return actions.approve(sessions, actor=VIC, request_id=request_id, idempotency_key=key())


def _already_decided(
    sessions: sessionmaker[Session], settings: Settings, request_id: int
) -> ActionResult:
    actions.approve(sessions, actor=BO, request_id=request_id, idempotency_key=key())
    return actions.approve(sessions, actor=BO, request_id=request_id, idempotency_key=key())


def _after_rejection(
    sessions: sessionmaker[Session], settings: Settings, request_id: int
) -> ActionResult:
    actions.reject(sessions, actor=CY, request_id=request_id, idempotency_key=key(), comment="no")
    return actions.approve(sessions, actor=BO, request_id=request_id, idempotency_key=key())


def _reject_without_comment(
    sessions: sessionmaker[Session], settings: Settings, request_id: int
) -> ActionResult:
    return actions.reject(
        sessions, actor=BO, request_id=request_id, idempotency_key=key(), comment=" "
    )


def _unapproved(
    sessions: sessionmaker[Session], settings: Settings, request_id: int
) -> ActionResult:
    return _promote(sessions, settings, request_id, ANA)


def _stale_version(
    sessions: sessionmaker[Session], settings: Settings, request_id: int
) -> ActionResult:
    actions.approve(sessions, actor=BO, request_id=request_id, idempotency_key=key())
    return actions.promote(
        sessions,
        settings,
        actor=ANA,
        request_id=request_id,
        expected_current_version="1.0",
        idempotency_key=key(),
    )


def _promote(
    sessions: sessionmaker[Session],
    settings: Settings,
    request_id: int,
    who: Actor,
    override: str | None = None,
    approve: bool = False,
) -> ActionResult:
    if approve:
        actions.approve(sessions, actor=BO, request_id=request_id, idempotency_key=key())
    return actions.promote(
        sessions,
        settings,
        actor=who,
        request_id=request_id,
        expected_current_version="1.1",
        idempotency_key=key(),
        override_reason=override,
    )


def _frozen(sessions: sessionmaker[Session], settings: Settings, request_id: int) -> ActionResult:
    return _promote(sessions, settings, request_id, ANA, approve=True)


def _override_by_captain(
    sessions: sessionmaker[Session], settings: Settings, request_id: int
) -> ActionResult:
    return _promote(sessions, settings, request_id, ANA, override="ship it", approve=True)


def _override_without_reason(
    sessions: sessionmaker[Session], settings: Settings, request_id: int
) -> ActionResult:
    return _promote(sessions, settings, request_id, LEE, override="  ", approve=True)


def _override_by_admin(
    sessions: sessionmaker[Session], settings: Settings, request_id: int
) -> ActionResult:
    return _promote(sessions, settings, request_id, LEE, override="security fix", approve=True)


def _held(sessions: sessionmaker[Session], settings: Settings, request_id: int) -> ActionResult:
    actions.hold(
        sessions,
        actor=CY,
        service="api",
        environment="production",
        reason="incident",
        idempotency_key=key(),
    )
    return _promote(sessions, settings, request_id, ANA, approve=True)


@pytest.mark.parametrize(
    ("scenario", "freeze", "outcome", "message"),
    [
        pytest.param(
            _self_approval,
            False,
            "refused",
            "ana@acme.example requested this promotion and cannot approve it (four eyes)",
            id="self-approval",
        ),
        pytest.param(
            _wrong_role,
            False,
            "refused",
            "vic@acme.example is analyst; approve a promotion needs the release permission",
            id="wrong-role",
        ),
        pytest.param(
            _already_decided,
            False,
            "refused",
            "bo@acme.example already decided on request #{id}",
            id="already-decided",
        ),
        pytest.param(
            _after_rejection,
            False,
            "refused",
            "request #{id} is already rejected",
            id="decided-by-a-rejection",
        ),
        pytest.param(
            _reject_without_comment,
            False,
            "refused",
            "a rejection needs a reason",
            id="reject-without-comment",
        ),
        pytest.param(
            _unapproved, False, "refused", "approvals: 0 of 1 approvals", id="not-approved-yet"
        ),
        pytest.param(
            _stale_version,
            False,
            "refused",
            "the screen was stale: 1.1 runs in production now, not 1.0; reload and decide again",
            id="stale-expected-version",
        ),
        pytest.param(
            _frozen,
            True,
            "refused",
            "gate is fail: freeze: board meeting until",
            id="freeze-in-a-non-utc-zone",
        ),
        pytest.param(
            _override_by_captain,
            True,
            "refused",
            "ana@acme.example is captain; overriding the gate needs the override permission",
            id="override-by-a-captain",
        ),
        pytest.param(
            _override_without_reason,
            True,
            "refused",
            "an override needs a reason",
            id="override-without-a-reason",
        ),
        pytest.param(
            _override_by_admin,
            True,
            "succeeded",
            "recorded 1.2 (noop)",
            id="override-by-an-admin-with-a-reason",
        ),
        pytest.param(
            _held,
            False,
            "refused",
            "production is held by cy@acme.example (incident); unhold it first",
            id="held-environment",
        ),
    ],
)
def test_separation_of_duties_and_roles(
    sessions: sessionmaker[Session], scenario: Any, freeze: bool, outcome: str, message: str
) -> None:
    seed(sessions)
    settings = policy(freeze=frozen_now() if freeze else "")
    asked = request(sessions, settings)
    before = len(audit(sessions))

    result = scenario(sessions, settings, asked.action_id)

    assert result.outcome == outcome
    assert result.message.startswith(message.format(id=asked.action_id))
    events = audit(sessions)
    assert (events[-1].outcome, events[-1].details["message"]) == (outcome, result.message)
    assert len(events) - before == {
        _already_decided: 2,
        _after_rejection: 2,
        _stale_version: 2,
        _frozen: 2,
        _override_by_captain: 2,
        _override_without_reason: 2,
        _override_by_admin: 2,
        _held: 3,
    }.get(scenario, 1)
    if outcome == "succeeded":
        assert events[-1].details["override"] is True
        assert events[-1].details["overridden_checks"] == ["freeze"]
        assert events[-1].details["reason"] == "security fix"


def test_a_rollback_goes_to_the_chosen_version_and_holds_the_environment(
    sessions: sessionmaker[Session],
) -> None:
    seed(sessions)
    settings = policy()

    result = actions.rollback(
        sessions,
        settings,
        actor=ANA,
        service="api",
        environment="production",
        target_version="1.0",
        expected_current_version="1.1",
        reason="5xx spike",
        idempotency_key=key(),
        confirmation="api",
    )

    assert (result.outcome, result.message) == (
        "succeeded",
        "recorded 1.0 (noop); production is now held",
    )
    assert current(sessions) == "1.0"
    with sessions() as session:
        hold = hold_of(session, "api", "production")
        assert hold is not None and hold.by == ANA.name
        assert hold.reason == "rolled back 1.1 -> 1.0: 5xx spike"
        kinds = session.scalars(
            select(Deployment.kind).where(Deployment.source == "flightdeck")
        ).all()
        assert kinds == ["rollback"]
    event = audit(sessions)[-1]
    assert (
        event.action,
        event.details["before"],
        event.details["after"],
        event.details["hold"],
    ) == ("rollback", "1.1", "1.0", True)

    unheld = actions.unhold(
        sessions,
        actor=BO,
        service="api",
        environment="production",
        reason="fixed forward",
        idempotency_key=key(),
    )
    assert unheld.outcome == "succeeded"
    with sessions() as session:
        assert hold_of(session, "api", "production") is None
    assert audit(sessions)[-1].details["held_by"] == ANA.name


@pytest.mark.parametrize(
    ("target", "reason", "confirmation", "outcome", "message"),
    [
        pytest.param(
            "1.1",
            "x",
            "api",
            "noop",
            "1.1 already runs in production; nothing done",
            id="to-the-running-version",
        ),
        pytest.param(
            "0.9",
            "x",
            "api",
            "refused",
            "0.9 never ran successfully in production; pick an earlier version",
            id="to-a-version-that-never-ran-there",
        ),
        pytest.param(
            "1.2",
            "x",
            "api",
            "refused",
            "1.2 never ran successfully in production; pick an earlier version",
            id="to-a-version-only-staging-ran",
        ),
        pytest.param(
            "1.0",
            "x",
            "API ",
            "refused",
            "rolling back production needs the service name 'api' typed to confirm",
            id="production-without-the-typed-name",
        ),
        pytest.param("1.0", "", "api", "refused", "a rollback needs a reason", id="without-reason"),
    ],
)
def test_rollbacks_that_do_nothing(
    sessions: sessionmaker[Session],
    target: str,
    reason: str,
    confirmation: str,
    outcome: str,
    message: str,
) -> None:
    seed(sessions)

    result = actions.rollback(
        sessions,
        policy(),
        actor=ANA,
        service="api",
        environment="production",
        target_version=target,
        expected_current_version="1.1",
        reason=reason,
        idempotency_key=key(),
        confirmation=confirmation,
    )

    assert (result.outcome, result.message) == (outcome, message)
    assert current(sessions) == "1.1"
    with sessions() as session:
        assert hold_of(session, "api", "production") is None
    assert [(e.action, e.outcome) for e in audit(sessions)] == [("rollback", outcome)]


def test_a_failing_gate_never_blocks_a_rollback(sessions: sessionmaker[Session]) -> None:
    seed(sessions)
    store(sessions, incident("INC-9", "sev1", T0 + timedelta(days=2)))

    result = actions.rollback(
        sessions,
        policy(freeze=frozen_now("America/New_York")),
        actor=ANA,
        service="api",
        environment="production",
        target_version="1.0",
        expected_current_version="1.1",
        reason="INC-9",
        idempotency_key=key(),
        confirmation="api",
    )

    assert result.outcome == "succeeded"
    event = audit(sessions)[-1]
    assert event.details["gate_verdict"] == "fail"


def test_holding_twice_is_a_noop_and_staging_needs_no_typed_name(
    sessions: sessionmaker[Session],
) -> None:
    seed(sessions)
    store(sessions, deployment("staging", "1.3", "aaaa3333", T0 + timedelta(days=2, hours=1)))

    first, second = (
        actions.hold(
            sessions,
            actor=ANA,
            service="api",
            environment="Staging",
            reason="flaky",
            idempotency_key=key(),
        )
        for _ in range(2)
    )
    rolled = actions.rollback(
        sessions,
        policy(),
        actor=ANA,
        service="api",
        environment="staging",
        target_version="1.2",
        expected_current_version="1.3",
        reason="bad",
        idempotency_key=key(),
    )

    assert (first.outcome, second.outcome, second.message) == (
        "succeeded",
        "noop",
        "staging is already held",
    )
    assert rolled.outcome == "succeeded"
    assert [e.subject for e in audit(sessions)] == ["api/staging"] * 3


def test_a_viewer_can_do_nothing_and_each_refusal_is_audited(
    sessions: sessionmaker[Session],
) -> None:
    seed(sessions)
    viewer = Actor("val@acme.example", "viewer")
    settings = policy()

    results = [
        request(sessions, settings, who=viewer),
        actions.hold(
            sessions,
            actor=viewer,
            service="api",
            environment="production",
            reason="x",
            idempotency_key=key(),
        ),
        actions.unhold(
            sessions,
            actor=viewer,
            service="api",
            environment="production",
            reason="x",
            idempotency_key=key(),
        ),
        actions.rollback(
            sessions,
            settings,
            actor=viewer,
            service="api",
            environment="production",
            target_version="1.0",
            expected_current_version="1.1",
            reason="x",
            idempotency_key=key(),
            confirmation="api",
        ),
        actions.promote(
            sessions,
            settings,
            actor=viewer,
            request_id=12345,
            expected_current_version="1.1",
            idempotency_key=key(),
        ),
    ]

    assert [r.outcome for r in results] == ["refused"] * 5
    assert [(e.action, e.actor, e.outcome) for e in audit(sessions)] == [
        (kind, viewer.name, "refused")
        for kind in ("request", "hold", "unhold", "rollback", "promote")
    ]


def test_a_new_request_supersedes_the_pending_one(sessions: sessionmaker[Session]) -> None:
    seed(sessions)
    store(sessions, deployment("staging", "1.3", "aaaa3333", T0 + timedelta(days=2, hours=1)))
    settings = policy()
    old = request(sessions, settings, version="1.2")

    new = request(sessions, settings, version="1.3")
    late = actions.approve(sessions, actor=BO, request_id=old.action_id or 0, idempotency_key=key())

    assert new.outcome == "pending"
    assert (late.outcome, late.message) == (
        "refused",
        f"request #{old.action_id} is already superseded",
    )
    assert audit(sessions)[1].details["superseded"] == [old.action_id]


def test_the_audit_log_refuses_updates_and_deletes(sessions: sessionmaker[Session]) -> None:
    seed(sessions)
    request(sessions, policy())

    for statement in ("UPDATE audit_events SET outcome = 'succeeded'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"), sessions.begin() as session:
            session.execute(text(statement))
    assert len(audit(sessions)) == 1
