"""DORA performance tiers by report year, as data, and the functions that apply them.

Each table lists (tier, bound) pairs checked in order; the first bound met gives the tier,
and a value that meets none is `low`. Frequency bounds are minimum deployments per day
(`>=`), fail-rate bounds maximum rates (`<=`), duration bounds exclusive maxima (`<`);
all comparisons are exact (fractions, not rounded floats).

The reports publish ranges with gaps and overlaps; where they do, we read them as follows.
- 2023 (the default; DESIGN §4): as published.
- 2021: frequency "on demand" is read as at least daily, "between once per week and once
  per month" as at least monthly, "between once per month and once every six months" as at
  least every 183 days. Change failure rate gives 0-15 % for elite and 16-30 % for every
  other cluster, so only elite and high (<= 30 %) are reachable. The restore times are
  those of the pre-2023 time to restore service, used here for recovery time.
- 2024: the fail rates are as published, with high (20 %) worse than medium (10 %), so
  bounds are checked in increasing order: elite <= 5 %, medium <= 10 %, high <= 20 %.
  Recovery time gives "less than one day" for both high and medium; medium is therefore
  unreachable.
- 2025: the report has no tiers. `REWORK_RATE_2025_MEAN` (and the fail-rate mean) come
  from the DORA Quick Check's industry means on its 0-10 scale, where a percentage p is
  scored 10 - p/10: rework 2.2 and change failure 1.9 mean about 22 % and 19 %.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from fractions import Fraction
from typing import Literal

Tier = Literal["elite", "high", "medium", "low"]

REWORK_RATE_2025_MEAN = 0.22
CHANGE_FAIL_RATE_2025_MEAN = 0.19

_HOUR, _DAY = timedelta(hours=1), timedelta(days=1)


@dataclass(frozen=True)
class Benchmark:
    """The tier table of one report year.

    Attributes:
        year: Report year.
        deployment_frequency: (tier, minimum deployments per day), checked in order.
        change_lead_time: (tier, exclusive maximum median lead time).
        change_fail_rate: (tier, maximum rate).
        recovery_time: (tier, exclusive maximum median recovery time).
    """

    year: int
    deployment_frequency: tuple[tuple[Tier, Fraction], ...]
    change_lead_time: tuple[tuple[Tier, timedelta], ...]
    change_fail_rate: tuple[tuple[Tier, Fraction], ...]
    recovery_time: tuple[tuple[Tier, timedelta], ...]

    def frequency_tier(self, deployments: int, window: timedelta) -> Tier:
        """Tier of `deployments` over `window` (a rate over time: 0 deployments is low)."""
        per_day = (
            Fraction(deployments)
            * Fraction(_DAY // timedelta(microseconds=1))
            / Fraction(window // timedelta(microseconds=1))
        )
        return next((tier for tier, bound in self.deployment_frequency if per_day >= bound), "low")

    def lead_time_tier(self, median_hours: float | None) -> Tier | None:
        """Tier of a median lead time; None for an empty set."""
        return _duration_tier(self.change_lead_time, median_hours)

    def fail_rate_tier(self, failed: int, deployments: int) -> Tier | None:
        """Tier of a change fail rate; None when there were no deployments."""
        if deployments == 0:
            return None
        rate = Fraction(failed, deployments)
        return next((tier for tier, bound in self.change_fail_rate if rate <= bound), "low")

    def recovery_tier(self, median_hours: float | None) -> Tier | None:
        """Tier of a median recovery time; None for an empty set."""
        return _duration_tier(self.recovery_time, median_hours)


def _duration_tier(
    table: tuple[tuple[Tier, timedelta], ...], median_hours: float | None
) -> Tier | None:
    if median_hours is None:
        return None
    # Hours as an exact fraction of the float, against exact bounds in hours.
    value = Fraction(median_hours)
    return next((tier for tier, bound in table if value < Fraction(bound / _HOUR)), "low")


BENCHMARKS: dict[int, Benchmark] = {
    2021: Benchmark(
        2021,
        (("elite", Fraction(1)), ("high", Fraction(1, 30)), ("medium", Fraction(1, 183))),
        (("elite", _HOUR), ("high", 7 * _DAY), ("medium", 183 * _DAY)),
        (("elite", Fraction(15, 100)), ("high", Fraction(30, 100))),
        (("elite", _HOUR), ("high", _DAY), ("medium", 7 * _DAY)),
    ),
    2023: Benchmark(
        2023,
        (("elite", Fraction(1)), ("high", Fraction(1, 7)), ("medium", Fraction(1, 30))),
        (("elite", _DAY), ("high", 7 * _DAY), ("medium", 30 * _DAY)),
        (("elite", Fraction(5, 100)), ("high", Fraction(10, 100)), ("medium", Fraction(15, 100))),
        (("elite", _HOUR), ("high", _DAY), ("medium", 7 * _DAY)),
    ),
    2024: Benchmark(
        2024,
        (("elite", Fraction(1)), ("high", Fraction(1, 7)), ("medium", Fraction(1, 30))),
        (("elite", _DAY), ("high", 7 * _DAY), ("medium", 30 * _DAY)),
        (("elite", Fraction(5, 100)), ("medium", Fraction(10, 100)), ("high", Fraction(20, 100))),
        (("elite", _HOUR), ("high", _DAY)),
    ),
}
DEFAULT_BENCHMARK = 2023
