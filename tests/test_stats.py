"""Bootstrap intervals against scipy.stats.bootstrap and an exact small case."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from helpers.runtime import WorkbookError
from helpers.stats import bootstrap, paired_bootstrap


def mean_ci(values, **kwargs):
    """The mean with its bootstrap interval, as the notebooks' per-task means are resampled."""
    x = np.asarray(values, dtype=float)
    return bootstrap(lambda idx: x[idx].mean(), len(x), **kwargs)


def test_mean_interval_matches_scipy_percentile_bootstrap():
    x = np.random.default_rng(1).normal(0.4, 0.2, size=60)
    ours = mean_ci(x, n_boot=4000, seed=0)
    ref = scipy_stats.bootstrap((x,), np.mean, n_resamples=4000, method="percentile", random_state=0)
    assert ours.estimate == pytest.approx(x.mean())
    assert ours.low == pytest.approx(ref.confidence_interval.low, abs=0.01)
    assert ours.high == pytest.approx(ref.confidence_interval.high, abs=0.01)
    assert ours.low < ours.estimate < ours.high


def test_exact_small_case_constant_and_two_points():
    assert str(mean_ci([0.5] * 5)) == "0.500 [0.500, 0.500]"  # no spread: the interval is the point
    # two items 0 and 1: a resample's mean is 0, 0.5 or 1 with probabilities 1/4, 1/2, 1/4
    # so the 30th and 70th percentiles are both 0.5, and the 5th and 95th are 0 and 1
    narrow = mean_ci([0.0, 1.0], n_boot=4000, level=0.4)
    assert (narrow.low, narrow.high) == (0.5, 0.5)
    wide = mean_ci([0.0, 1.0], n_boot=4000, level=0.9)
    assert (wide.low, wide.high) == (0.0, 1.0)


def test_paired_bootstrap_resamples_items_together():
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 1, 50)
    shifted = paired_bootstrap(a, a + 0.1)  # the same items, each exactly 0.1 better: no doubt at all
    assert shifted.estimate == pytest.approx(0.1) and shifted.low == pytest.approx(0.1)
    assert shifted.excludes(0) and shifted.side() == 1 and shifted.side(0.2) == -1 and shifted.side(0.1) == 0
    noise = paired_bootstrap(a, rng.permutation(a))  # same values, unrelated order: no real difference
    assert not noise.excludes(0)
    with pytest.raises(WorkbookError, match="same items"):
        paired_bootstrap([1, 2], [1, 2, 3])


def test_undefined_resamples_are_skipped_or_refused():
    y = np.array([0] * 30 + [1])  # one positive: most resamples lose it

    def positives_share(idx):
        if y[idx].sum() == 0:
            raise ValueError("no positive")
        return y[idx].mean()

    with pytest.raises(WorkbookError, match="undefined"):
        bootstrap(positives_share, len(y))
    with pytest.raises(WorkbookError, match="at least 2"):
        mean_ci([1.0])
