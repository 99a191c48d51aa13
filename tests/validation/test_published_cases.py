"""The estimator against published per-call figures (published_cases.json).

Prints the table (run with `-s` to see it, or `python -m tests.validation.report` for the
version with EcoLogits beside it) and checks the aggregate goals over the energy cases:
typical factor <= 1.4, >= 80 % inside the window, the reference inside [min, max] in
>= 80 % of cases with a median max/min <= 3. Goals not met yet are strict xfails, with the
figure reached, so that meeting one turns its test red until the marker is removed.
"""

from __future__ import annotations

import dataclasses

import pytest

from tests.validation.harness import (
    Result,
    Summary,
    evaluate,
    evaluate_ecologits,
    load_cases,
    summarise,
    table,
)

CASES = load_cases()


@pytest.fixture(scope="module")
def results() -> list[Result]:
    return [evaluate(c) for c in CASES]


@pytest.fixture(scope="module")
def summary(results: list[Result]) -> Summary:
    return summarise(results)


def test_cases_are_complete_and_sourced() -> None:
    assert len(CASES) == len({c.id for c in CASES}) >= 20
    for c in CASES:
        assert c.source.startswith("https://"), c.id
        assert c.window[0] < c.reference < c.window[1], c.id
        assert c.boundary in {"facility", "server", "gpu", "onsite", "offsite", "total"}, c.id


def test_prints_the_table(results: list[Result], summary: Summary) -> None:
    print("\n" + table(results))
    print(summary)
    assert len(results) == len(CASES)


def test_every_case_gets_an_ordered_range(results: list[Result]) -> None:
    for r in results:
        assert 0 < r.ours.min <= r.ours.value <= r.ours.max, r.case.id


def test_closer_than_ecologits(summary: Summary) -> None:
    eco = summarise([evaluate_ecologits(c) for c in CASES])
    assert summary.typical_factor < eco.typical_factor
    assert summary.inside_window > eco.inside_window
    assert summary.inside_range > eco.inside_range


def test_no_regression(summary: Summary) -> None:
    """Floors at the level `wattgate-4` reached on these cases."""
    assert summary.inside_range >= 0.7


def test_goal_median_range_width(summary: Summary) -> None:
    assert summary.median_width <= 3.0


def test_goal_typical_factor(summary: Summary) -> None:
    assert summary.typical_factor <= 1.4


def test_goal_inside_window(summary: Summary) -> None:
    assert summary.inside_window >= 0.8


@pytest.mark.xfail(strict=True, reason="goal; wattgate-4 reaches 70 % on the given cases")
def test_goal_reference_inside_range(summary: Summary) -> None:
    assert summary.inside_range >= 0.8


def test_water_cases_read_the_split() -> None:
    google = next(c for c in CASES if c.id == "google_gemini_median_energy")
    onsite = dataclasses.replace(google, metric="ml_per_query", boundary="onsite")
    total = dataclasses.replace(onsite, boundary="total")
    a, b = evaluate(onsite), evaluate(total)
    assert 0 < a.ours.value < b.ours.value
    assert a.ours.min <= a.ours.value <= a.ours.max
