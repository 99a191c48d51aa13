"""Everyday equivalents: the published factors, honest small values, and bad input."""

from __future__ import annotations

import math

import pytest

from estimators.equivalents import (
    FACTORS,
    METHOD,
    central,
    equivalents,
    equivalents_of,
    significant,
)


def test_factors_are_the_published_figures() -> None:
    by_name = {f.name: f for f in FACTORS}
    # EPA: 0.012 kWh per smartphone charge
    assert by_name["smartphone_charges"].per_unit == 12.0
    # DOE: 10 W LED for 60 W of incandescent light, per minute
    assert by_name["led_bulb_minutes"].per_unit * 60 == pytest.approx(10.0)
    # EPA: 8,887 g CO2/gallon at 22.0 mpg, in g/km
    assert by_name["car_km"].per_unit == pytest.approx(251.0, abs=0.1)
    # EFSA: 2.0 L/day adequate total water intake (adult woman)
    assert by_name["water_intake_days"].per_unit == 2000.0
    assert all(f.source for f in FACTORS)


def test_values_follow_the_factors() -> None:
    out = equivalents(energy_wh=0.34, emissions_gco2e=0.13, water_ml=1.2)
    assert out["method"] == METHOD
    assert out["smartphone_charges"] == pytest.approx(0.34 / 12, rel=2e-3)
    assert out["led_bulb_minutes"] == pytest.approx(0.34 / 10 * 60, rel=2e-3)
    assert out["car_km"] == pytest.approx(0.13 / 251.04, rel=2e-3)
    assert out["water_intake_days"] == pytest.approx(1.2 / 2000, rel=2e-3)


def test_tiny_footprints_keep_their_size() -> None:
    out = equivalents(energy_wh=1e-6, emissions_gco2e=3e-7, water_ml=1e-9)
    for f in FACTORS:
        assert out[f.name] > 0, f.name
    assert out["car_km"] == significant(3e-7 / (8887 / 22.0 / 1.609344))


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf])
def test_zero_negative_and_non_finite_count_as_zero(bad: float) -> None:
    out = equivalents(energy_wh=bad, emissions_gco2e=bad, water_ml=bad)
    assert all(out[f.name] == 0.0 for f in FACTORS)


def test_from_an_impacts_object() -> None:
    impacts = {"energy_wh": {"value": 1.2, "min": 1, "max": 2},
               "emissions_gco2e": {"value": 0.5}, "water_ml": 3.0}
    assert equivalents_of(impacts) == equivalents(energy_wh=1.2, emissions_gco2e=0.5,
                                                  water_ml=3.0)
    assert central({"energy_wh": {"value": "x"}}, "energy_wh") == 0.0
    assert central({}, "water_ml") == 0.0


def test_significant_digits() -> None:
    assert significant(0.000518349) == 0.000518
    assert significant(123456) == 123000
    assert significant(0) == 0.0
