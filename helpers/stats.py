"""Bootstrap confidence intervals (introduced in notebook 03, used in 04 and 05).

A difference between two models is only worth reporting with an interval that says how much it could move
if the held-out items had been drawn again. ``bootstrap`` resamples the items (questions in 03/04, test notes
in 05) with replacement and takes the percentile interval of the statistic; ``paired_bootstrap`` resamples the
same items for both models, so a difference is judged on the items they share.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .runtime import WorkbookError

N_BOOT = 1000  # resamples: enough for a stable 95% percentile interval at the sizes of this workbook


@dataclass(frozen=True)
class Interval:
    """A point estimate with its bootstrap percentile interval."""

    estimate: float
    low: float
    high: float
    level: float = 0.95
    n: int = 0  # items resampled

    def side(self, threshold: float = 0.0) -> int:
        """1 when the whole interval lies above ``threshold``, -1 when below it, 0 when it includes it."""
        return 1 if self.low > threshold else -1 if self.high < threshold else 0

    def excludes(self, value: float = 0.0) -> bool:
        """True when ``value`` lies outside the interval (the difference is resolved at this level)."""
        return self.side(value) != 0

    def __str__(self) -> str:
        return f"{self.estimate:.3f} [{self.low:.3f}, {self.high:.3f}]"


def bootstrap(statistic: Callable[[np.ndarray], float], n: int, n_boot: int = N_BOOT, level: float = 0.95,
              seed: int = 0) -> Interval:
    """``statistic(indices)`` on all ``n`` items, with the percentile interval over ``n_boot`` resamples of them.

    A resample on which the statistic is undefined (it raises, or returns NaN: for example an AUROC drawn with
    one class only) is skipped; if more than a tenth are, the interval is not trustworthy and we say so.
    """
    if n < 2:
        raise WorkbookError(f"A bootstrap interval needs at least 2 items, got {n}: use a larger test set.")
    if not 0 < level < 1:
        raise WorkbookError(f"level={level} must be between 0 and 1, for example 0.95.")
    rng = np.random.default_rng(seed)
    point = float(statistic(np.arange(n)))
    values = []
    for _ in range(n_boot):
        try:
            value = float(statistic(rng.integers(0, n, n)))
        except (ValueError, ZeroDivisionError, WorkbookError):
            continue
        if np.isfinite(value):
            values.append(value)
    if len(values) < 0.9 * n_boot:
        raise WorkbookError(f"The statistic was undefined on {n_boot - len(values)} of {n_boot} resamples (too few "
                            "positives?): use a larger test set.")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return Interval(point, float(low), float(high), level, n)


def paired_bootstrap(a: Sequence[float], b: Sequence[float], **kwargs) -> Interval:
    """mean(b) - mean(a) over the same items, with the interval from resampling those items together."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape:
        raise WorkbookError(f"Paired scores must cover the same items: got {len(x)} and {len(y)}.")
    return bootstrap(lambda idx: y[idx].mean() - x[idx].mean(), len(x), **kwargs)
