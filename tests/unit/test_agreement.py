"""Wilson score interval, checked against its definition (the roots of a quadratic)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.rightsizing.agreement import Z95, Agreement, wilson_interval


def roots(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """The p with |p_hat - p| = z * sqrt(p (1 - p) / n), solved as a quadratic in p."""
    p_hat = successes / trials
    a = 1 + z * z / trials
    b = -(2 * p_hat + z * z / trials)
    c = p_hat * p_hat
    disc = math.sqrt(max(b * b - 4 * a * c, 0.0))
    return (-b - disc) / (2 * a), (-b + disc) / (2 * a)


@given(st.integers(min_value=1, max_value=100_000).flatmap(
    lambda n: st.tuples(st.integers(min_value=0, max_value=n), st.just(n))))
def test_matches_the_definition(pair: tuple[int, int]) -> None:
    successes, trials = pair
    low, high = wilson_interval(successes, trials)
    want_low, want_high = roots(successes, trials)
    assert low == pytest.approx(max(want_low, 0.0), abs=1e-9)
    assert high == pytest.approx(min(want_high, 1.0), abs=1e-9)
    assert 0.0 <= low <= successes / trials <= high <= 1.0


def test_narrows_with_more_samples_and_stays_inside_the_unit_interval() -> None:
    small, large = wilson_interval(9, 10), wilson_interval(900, 1000)
    assert large[1] - large[0] < small[1] - small[0]
    assert wilson_interval(0, 5)[0] == 0.0 and wilson_interval(5, 5)[1] == 1.0
    assert wilson_interval(0, 5)[1] > 0.0 and wilson_interval(5, 5)[0] < 1.0


@pytest.mark.parametrize(("successes", "trials"), [(0, 0), (-1, 5), (6, 5)])
def test_rejects_impossible_counts(successes: int, trials: int) -> None:
    with pytest.raises(ValueError):
        wilson_interval(successes, trials)


def test_agreement_figures() -> None:
    a = Agreement(agreed=70, samples=100, errors=3)
    assert a.rate == 0.7
    assert a.interval == wilson_interval(70, 100)
    d = a.to_dict()
    assert (d["samples"], d["agreed"], d["errors"], d["agreement"]) == (100, 70, 3, 0.7)
    assert d["agreement_low"] < 0.7 < d["agreement_high"]
    empty = Agreement(agreed=0, samples=0, errors=2)
    assert empty.rate is None and empty.interval is None
    assert empty.to_dict()["agreement_low"] is None
