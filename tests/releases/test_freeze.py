"""Freeze windows in their own time zones, across DST changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from releases.freeze import Cron, active_occurrence
from settings import FreezeWindow

WEEKEND_BERLIN = FreezeWindow(timezone="Europe/Berlin", cron="0 16 * * 5", minutes=3840)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("at", "frozen"),
    [
        pytest.param("2026-06-05T13:59", False, id="summer-friday-before-16-berlin"),
        pytest.param("2026-06-05T14:00", True, id="summer-friday-16-berlin-is-14-utc"),
        pytest.param("2026-06-08T05:59", True, id="summer-monday-before-8-berlin"),
        pytest.param("2026-06-08T06:00", False, id="summer-monday-8-berlin"),
        pytest.param("2026-12-04T14:30", False, id="winter-friday-15-30-berlin"),
        pytest.param("2026-12-04T15:00", True, id="winter-friday-16-berlin-is-15-utc"),
        # DST ends on Sunday 2026-10-25: the window starts in CEST and ends in CET, and
        # still ends at 08:00 local (07:00 UTC), 65 real hours after it began.
        pytest.param("2026-10-23T14:00", True, id="dst-weekend-starts-16-cest"),
        pytest.param("2026-10-26T06:30", True, id="dst-weekend-monday-7-30-cet"),
        pytest.param("2026-10-26T07:00", False, id="dst-weekend-ends-8-cet"),
    ],
)
def test_a_weekly_freeze_follows_local_wall_time(at: str, frozen: bool) -> None:
    assert (active_occurrence(WEEKEND_BERLIN, utc(at)) is not None) is frozen


def test_a_spring_forward_freeze_in_new_york_ends_at_local_time() -> None:
    # Saturday 20:00 EST for 24 wall-clock hours: DST starts Sunday 2026-03-08 at 02:00,
    # so the window ends Sunday 20:00 EDT = 00:00 UTC Monday, only 23 real hours later.
    window = FreezeWindow(timezone="America/New_York", cron="0 20 * * 6", minutes=1440)

    occurrence = active_occurrence(window, utc("2026-03-08T23:59"))

    assert occurrence is not None
    assert (occurrence.started, occurrence.ends) == (
        utc("2026-03-08T01:00"),
        utc("2026-03-09T00:00"),
    )
    assert active_occurrence(window, utc("2026-03-09T00:00")) is None


def test_a_one_off_window_is_read_in_its_zone() -> None:
    window = FreezeWindow(
        timezone="America/New_York", start="2026-12-23T00:00", end="2027-01-02T00:00"
    )

    assert active_occurrence(window, utc("2026-12-23T04:59")) is None
    assert active_occurrence(window, utc("2026-12-23T05:00")) is not None
    assert active_occurrence(window, utc("2027-01-02T04:59")) is not None
    assert active_occurrence(window, utc("2027-01-02T05:00")) is None


@pytest.mark.parametrize(
    ("expression", "at", "fires"),
    [
        ("*/15 9-17 * * 1-5", "2026-03-02T09:45", True),
        ("*/15 9-17 * * 1-5", "2026-03-02T09:50", False),
        ("*/15 9-17 * * 1-5", "2026-03-01T09:45", False),  # a Sunday
        ("0 0 1 * 7", "2026-03-01T00:00", True),  # Sunday the 1st: weekday 7 is Sunday
        ("0 0 13 * 5", "2026-03-13T00:00", True),  # day 13 or any Friday (cron's OR)
        ("0 0 13 * 5", "2026-03-06T00:00", True),
        ("0 0 13 * 5", "2026-03-07T00:00", False),
    ],
)
def test_cron_expressions_match_like_cron(expression: str, at: str, fires: bool) -> None:
    assert Cron.parse(expression).matches(datetime.fromisoformat(at)) is fires


def test_an_out_of_range_cron_field_is_an_error() -> None:
    with pytest.raises(ValueError, match="outside 0-59"):
        Cron.parse("61 * * * *")
