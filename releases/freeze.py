"""Freeze windows: is a configured window active at a given instant?

A recurring window starts whenever its five-field cron expression matches the local wall
time in its IANA zone and lasts `minutes` of wall-clock time, so "Friday 16:00 for 3840
minutes" ends on Monday 08:00 local time on a DST weekend too. A one-off window runs from
`start` to `end`, local times in its zone. Local times a DST change skips never match;
times it repeats match once per occurrence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from settings import FreezeWindow

# Cron fields: (lowest, highest) value of minute, hour, day of month, month, weekday.
_FIELD_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_MINUTE = timedelta(minutes=1)
# A wall-clock window can be up to one DST shift longer in real time than its minutes.
_DST_SLACK = timedelta(hours=2)


@dataclass(frozen=True)
class ActiveFreeze:
    """A freeze window in force.

    Attributes:
        window: The configured window.
        started: When this occurrence began (UTC).
        ends: When it ends (UTC).
    """

    window: FreezeWindow
    started: datetime
    ends: datetime


def _field(text: str, lowest: int, highest: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if body == "*":
            first, last = lowest, highest
        elif "-" in body:
            first_text, last_text = body.split("-", 1)
            first, last = int(first_text), int(last_text)
        else:
            first = int(body)
            last = highest if step_text else first
        if not lowest <= first <= last <= highest or step < 1:
            msg = f"cron field {text!r} is outside {lowest}-{highest}"
            raise ValueError(msg)
        values.update(range(first, last + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Cron:
    """A parsed five-field cron expression (minute hour day-of-month month weekday)."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday, as in cron
    days_restricted: bool
    weekdays_restricted: bool

    @classmethod
    def parse(cls, expression: str) -> Cron:
        """Parse `expression`; raises ValueError on a malformed field."""
        texts = expression.split()
        if len(texts) != len(_FIELD_RANGES):
            msg = f"cron expression {expression!r} must have five fields"
            raise ValueError(msg)
        fields = [_field(text, *bounds) for text, bounds in zip(texts, _FIELD_RANGES, strict=True)]
        weekdays = frozenset(day % 7 for day in fields[4])  # 7 is Sunday too
        return cls(
            minutes=fields[0],
            hours=fields[1],
            days=fields[2],
            months=fields[3],
            weekdays=weekdays,
            days_restricted=texts[2] != "*",
            weekdays_restricted=texts[4] != "*",
        )

    def matches(self, local: datetime) -> bool:
        """Whether the cron expression fires at the minute of wall time `local`."""
        if local.minute not in self.minutes or local.hour not in self.hours:
            return False
        if local.month not in self.months:
            return False
        day = local.day in self.days
        weekday = (local.weekday() + 1) % 7 in self.weekdays
        # Classic cron: when both day fields are restricted, either one matching is enough.
        if self.days_restricted and self.weekdays_restricted:
            return day or weekday
        return day and weekday


def _local(text: str, zone: ZoneInfo) -> datetime:
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)


def active_occurrence(window: FreezeWindow, at: datetime) -> ActiveFreeze | None:
    """The occurrence of `window` in force at the aware instant `at`, if any."""
    zone = ZoneInfo(window.timezone)
    if window.start is not None and window.end is not None:
        start, end = _local(window.start, zone), _local(window.end, zone)
        if start <= at < end:
            return ActiveFreeze(window, start.astimezone(UTC), end.astimezone(UTC))
        return None
    if window.cron is None or window.minutes is None:
        return None
    cron = Cron.parse(window.cron)
    length = timedelta(minutes=window.minutes)
    candidate = at.replace(second=0, microsecond=0)
    earliest = at - length - _DST_SLACK
    while candidate > earliest:
        local = candidate.astimezone(zone)
        if cron.matches(local):
            # Wall-clock length: add to the naive local time, then place it in the zone.
            end = (local.replace(tzinfo=None) + length).replace(tzinfo=zone)
            if candidate <= at < end:
                return ActiveFreeze(window, candidate, end.astimezone(UTC))
        candidate -= _MINUTE
    return None


def active_freezes(windows: list[FreezeWindow], at: datetime) -> list[ActiveFreeze]:
    """Every window of `windows` in force at `at`."""
    return [found for window in windows if (found := active_occurrence(window, at))]
