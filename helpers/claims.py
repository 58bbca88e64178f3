"""A published finding as a claim about a difference, judged by this run's interval (introduced in notebook 05).

A claim is the region that a difference between two rows of a results table (say variant c minus variant a, in
AUROC) must lie in for the finding to hold, and the direction the paper found: "helps a lot" is above ``small``,
"barely helps" between 0 and ``small``, "does not help" between ``-small`` and ``small`` (no direction), "helps"
above 0. A 95% interval of the same
difference, from this run, then gives one of four verdicts:

* **reproduces**: the whole interval lies inside the region (our run agrees with the paper's direction and size);
* **opposite direction**: the whole interval lies on the other side of 0 from the paper's effect;
* **contradicts**: the whole interval lies outside the region, but not in the opposite direction (the same
  direction at another size, or an effect where the paper found none);
* **cannot resolve**: the interval reaches both inside and outside the region.

A claim about several differences ("best": above every other variant) reproduces only if every one of them does;
one in the opposite direction makes the whole claim so, and otherwise one that contradicts makes it contradict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

VERDICTS = ("reproduces", "contradicts", "opposite direction", "cannot resolve")


@dataclass(frozen=True)
class Claim:
    """A finding's region for a difference, ``low < d < high``, and its direction (+1 up, -1 down, 0 none)."""

    words: str
    low: float
    high: float
    direction: int

    def holds(self, value: float) -> bool:
        """Whether a single number (the paper's own difference) lies inside the region."""
        return self.low < value < self.high

    def region(self) -> str:
        """The region in words, for a table."""
        if math.isinf(self.high):
            return f"above {self.low:+.2f}"
        if math.isinf(self.low):
            return f"below {self.high:+.2f}"
        return f"between {self.low:+.2f} and {self.high:+.2f}"


def helps_a_lot(small: float) -> Claim:
    """The difference is larger than ``small``."""
    return Claim("helps a lot", small, math.inf, +1)


def barely_helps(small: float) -> Claim:
    """The difference is positive but smaller than ``small``."""
    return Claim("barely helps", 0.0, small, +1)


def no_effect(small: float) -> Claim:
    """The difference is within ``small`` of 0 either way ("does not help", as the paper found it)."""
    return Claim("does not help", -small, small, 0)


def helps() -> Claim:
    """The difference is positive, of any size."""
    return Claim("helps", 0.0, math.inf, +1)


def verdict(claim: Claim, low: float, high: float) -> str:
    """One of VERDICTS for an interval ``[low, high]`` of the difference the claim is about."""
    if low > high:
        raise ValueError(f"an interval needs low <= high, got [{low}, {high}]")
    if claim.low < low and high < claim.high:
        return "reproduces"
    if (claim.direction > 0 and high < 0) or (claim.direction < 0 and low > 0):
        return "opposite direction"
    if high < claim.low or low > claim.high:
        return "contradicts"
    return "cannot resolve"


def judge(claim: Claim, intervals: list) -> str:
    """The verdict on a claim about every interval in ``intervals`` (objects with ``low`` and ``high``)."""
    if not intervals:
        return "not run"
    if any(iv is None for iv in intervals):
        return "cannot resolve (too few test positives)"
    verdicts = {verdict(claim, iv.low, iv.high) for iv in intervals}
    for outcome in ("opposite direction", "contradicts", "cannot resolve"):
        if outcome in verdicts:
            return outcome
    return "reproduces"
