"""Release-control fixtures: the audit log is emptied around its append-only triggers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.releases.data import purge_audit


@pytest.fixture(autouse=True)
def _empty_audit_log(request: pytest.FixtureRequest) -> Iterator[None]:
    # Set up after (so torn down before) the shared `engine` fixture, whose table cleanup
    # the audit log's triggers would refuse. Tests without a database skip this.
    if "sessions" not in request.fixturenames:
        yield
        return
    sessions = request.getfixturevalue("sessions")
    yield
    purge_audit(sessions)
