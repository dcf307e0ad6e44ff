"""Medians and percentiles of duration samples, the way every metric reports them.

Samples are whole microseconds; they become hours as `timedelta.total_seconds() / 3600`
would. The p90 is numpy's default percentile (linear interpolation between the closest
ranks, method 7 of Hyndman and Fan), reproduced operation for operation so that the
results are identical to `numpy.percentile` without importing numpy at start-up
(`tests/metrics/test_stats.py` checks that).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Spread:
    """Count, median and p90 of a set of durations, in hours (None when empty)."""

    samples: int
    median_hours: float | None
    p90_hours: float | None


def median(ordered: Sequence[float]) -> float:
    """The median of sorted values (the mean of the middle two for an even count)."""
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def percentile(ordered: Sequence[float], percent: float) -> float:
    """Linear-interpolation percentile of sorted values, exactly as `numpy.percentile`."""
    virtual = (len(ordered) - 1) * (percent / 100)
    previous = math.floor(virtual)
    below, above = ordered[previous], ordered[min(previous + 1, len(ordered) - 1)]
    gamma = virtual - previous
    difference = above - below
    # numpy's _lerp: from the nearer end, which keeps the result inside [below, above].
    if gamma >= 0.5:
        return above - difference * (1 - gamma)
    return below + difference * gamma


def spread(samples_us: Sequence[int]) -> Spread:
    """Summarise duration samples given in microseconds."""
    if not samples_us:
        return Spread(0, None, None)
    hours = sorted(sample / 10**6 / 3600 for sample in samples_us)
    return Spread(len(hours), median(hours), percentile(hours, 90))
