"""The verdict on a published finding: intervals on each side of every boundary of every claim."""

import math

import pytest

from helpers import claims
from helpers.stats import Interval

SMALL = 0.05
E = 0.001  # a step past a boundary


def iv(low, high):
    return Interval((low + high) / 2, low, high)


@pytest.mark.parametrize(("low", "high", "expected"), [
    (SMALL + E, 0.3, "reproduces"),             # wholly above small: a lot
    (SMALL - E, 0.3, "cannot resolve"),         # reaches below small
    (0.01, SMALL - E, "contradicts"),           # helps, but wholly less than a lot
    (-0.02, SMALL - E, "contradicts"),          # wholly below "a lot", though it reaches below 0
    (-0.02, SMALL + E, "cannot resolve"),
    (-0.2, -E, "opposite direction"),           # wholly below 0: it hurts
    (-0.2, E, "contradicts"),                   # reaches just above 0, still wholly below small
])
def test_helps_a_lot(low, high, expected):
    assert claims.verdict(claims.helps_a_lot(SMALL), low, high) == expected


@pytest.mark.parametrize(("low", "high", "expected"), [
    (E, SMALL - E, "reproduces"),               # inside (0, small)
    (-E, SMALL - E, "cannot resolve"),          # reaches below 0
    (E, SMALL + E, "cannot resolve"),           # reaches above small
    (SMALL + E, 0.2, "contradicts"),            # helps a lot: not "barely"
    (-0.086, -0.027, "opposite direction"),     # the c - a: the frozen adapter hurts
    (-0.2, -E, "opposite direction"),
    (-0.2, 0.2, "cannot resolve"),              # spans the whole region and beyond
])
def test_barely_helps(low, high, expected):
    assert claims.verdict(claims.barely_helps(SMALL), low, high) == expected


@pytest.mark.parametrize(("low", "high", "expected"), [
    (-SMALL + E, SMALL - E, "reproduces"),
    (-SMALL - E, SMALL - E, "cannot resolve"),
    (-SMALL + E, SMALL + E, "cannot resolve"),
    (SMALL + E, 0.2, "contradicts"),            # an effect up where the paper found none
    (-0.2, -SMALL - E, "contradicts"),          # and one down: no direction, so never "opposite"
])
def test_does_not_help(low, high, expected):
    assert claims.verdict(claims.no_effect(SMALL), low, high) == expected


@pytest.mark.parametrize(("low", "high", "expected"), [
    (E, 0.2, "reproduces"),
    (-E, 0.2, "cannot resolve"),
    (-0.2, E, "cannot resolve"),
    (-0.2, -E, "opposite direction"),
])
def test_helps(low, high, expected):
    assert claims.verdict(claims.helps(), low, high) == expected


def test_a_claim_about_a_decrease_has_its_own_opposite():
    hurts = claims.Claim("hurts", -math.inf, 0.0, -1)
    assert claims.verdict(hurts, -0.2, -E) == "reproduces"
    assert claims.verdict(hurts, E, 0.2) == "opposite direction"
    assert claims.verdict(hurts, -E, 0.2) == "cannot resolve"


def test_every_outcome_is_named_and_a_bad_interval_is_refused():
    outcomes = {claims.verdict(claims.barely_helps(SMALL), lo, hi)
                for lo, hi in [(E, 0.02), (0.1, 0.2), (-0.2, -0.1), (-0.1, 0.1)]}
    assert outcomes == set(claims.VERDICTS)
    with pytest.raises(ValueError):
        claims.verdict(claims.helps(), 0.2, 0.1)


def test_a_claim_on_several_differences_needs_all_of_them():
    best = claims.helps()
    up, across, down = iv(0.01, 0.1), iv(-0.02, 0.1), iv(-0.1, -0.01)
    assert claims.judge(best, [up, up]) == "reproduces"
    assert claims.judge(best, [up, across]) == "cannot resolve"
    assert claims.judge(best, [up, across, down]) == "opposite direction"  # one rival is clearly better
    lot = claims.helps_a_lot(SMALL)
    assert claims.judge(lot, [iv(0.1, 0.2), iv(0.01, 0.03)]) == "contradicts"
    assert claims.judge(lot, [iv(0.1, 0.2), iv(0.01, 0.03), down]) == "opposite direction"
    assert claims.judge(best, []) == "not run"
    assert claims.judge(best, [up, None]).startswith("cannot resolve")


def test_the_region_in_words_and_the_papers_own_number():
    assert claims.barely_helps(SMALL).region() == "between +0.00 and +0.05"
    assert claims.helps_a_lot(SMALL).region() == "above +0.05"
    assert claims.Claim("hurts", -math.inf, 0.0, -1).region() == "below +0.00"
    assert claims.barely_helps(SMALL).holds(0.0297) and not claims.barely_helps(SMALL).holds(0.1301)
    assert claims.no_effect(SMALL).holds(-0.014) and claims.helps_a_lot(SMALL).holds(0.1301)
