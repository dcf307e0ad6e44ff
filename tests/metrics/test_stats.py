"""Median and p90 are bit-for-bit numpy's (DESIGN §4: "as numpy's default percentile")."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from metrics.stats import median, percentile, spread

SAMPLES = st.lists(st.integers(-(10**13), 10**13), min_size=1, max_size=60)


@given(SAMPLES)
def test_median_and_p90_equal_numpy_exactly(samples: list[int]) -> None:
    hours = sorted(sample / 10**6 / 3600 for sample in samples)

    assert median(hours) == float(np.median(hours))
    assert percentile(hours, 90) == float(np.percentile(hours, 90))


def test_p90_of_ten_evenly_spaced_hours() -> None:
    result = spread([hour * 3600 * 10**6 for hour in range(1, 11)])

    assert (result.samples, result.median_hours, result.p90_hours) == (10, 5.5, 9.1)


def test_no_samples_give_nulls() -> None:
    assert spread([]) == spread(())
    assert spread([]).median_hours is None
