"""Everyday equivalents of a footprint: smartphone charges, LED-bulb time, km by car, days
of a person's water intake.

Each factor is a public agency's published figure (sources and derivations in
docs/methodology.md, "Everyday equivalents"). The functions here are pure and take the
central estimates (`energy_wh`, `emissions_gco2e`, `water_ml`); ranges are not carried
over because an equivalent is a way to picture a number, not a second estimate.

    from estimators.equivalents import equivalents
    equivalents(energy_wh=0.34, emissions_gco2e=0.13, water_ml=1.2)
    # {"smartphone_charges": 0.0283, "led_bulb_minutes": 2.04, "car_km": 0.000518,
    #  "water_intake_days": 0.0006, "method": "wattgate-equivalents-1"}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

METHOD = "wattgate-equivalents-1"

Basis = Literal["energy_wh", "emissions_gco2e", "water_ml"]


@dataclass(frozen=True, slots=True)
class Factor:
    """One everyday equivalent: `value = basis amount / per_unit`, in `unit`s."""

    name: str  # key in `impacts.equivalents`, e.g. "smartphone_charges"
    basis: Basis  # which central estimate it pictures
    per_unit: float  # amount of the basis equal to one unit (Wh, gCO2e or mL)
    unit: str  # what one unit is: "charge", "minute", "km", "day"
    source: str  # agency and publication, as cited in docs/methodology.md


# US EPA, Greenhouse Gas Equivalencies Calculator, "Calculations and References",
# smartphones charged: 0.012 kWh per full charge.
SMARTPHONE_WH_PER_CHARGE = 12.0
# US DOE Energy Saver: a 10 W LED gives the light (about 800 lm) of a 60 W incandescent.
LED_BULB_W = 10.0
# US EPA, "Greenhouse Gas Emissions from a Typical Passenger Vehicle" (EPA-420-F-23-014):
# 8,887 g CO2 per gallon of gasoline at 22.0 mpg = 404 g/mile = 251 g/km.
CAR_GCO2_PER_KM = 8887.0 / 22.0 / 1.609344
# EFSA, Scientific Opinion on Dietary Reference Values for water (2010): adequate total
# water intake of an adult woman, 2.0 L/day (2.5 L for men).
WATER_ML_PER_DAY = 2000.0

FACTORS: tuple[Factor, ...] = (
    Factor("smartphone_charges", "energy_wh", SMARTPHONE_WH_PER_CHARGE, "charge",
           "US EPA, Greenhouse Gas Equivalencies Calculator (smartphones charged)"),
    Factor("led_bulb_minutes", "energy_wh", LED_BULB_W / 60.0, "minute",
           "US DOE Energy Saver (10 W LED = 60 W incandescent, 800 lm)"),
    Factor("car_km", "emissions_gco2e", CAR_GCO2_PER_KM, "km",
           "US EPA, Greenhouse Gas Emissions from a Typical Passenger Vehicle (2023)"),
    Factor("water_intake_days", "water_ml", WATER_ML_PER_DAY, "day",
           "EFSA, Dietary Reference Values for water (2010)"),
)
FACTOR_BY_NAME: dict[str, Factor] = {f.name: f for f in FACTORS}


def significant(x: float, digits: int = 3) -> float:
    """`x` rounded to `digits` significant digits: small values keep their size
    (0.000518, never 0.0)."""
    if x == 0 or not math.isfinite(x):
        return 0.0
    return round(x, digits - 1 - math.floor(math.log10(abs(x))))


def equivalents(*, energy_wh: float, emissions_gco2e: float, water_ml: float
                ) -> dict[str, Any]:
    """The `impacts.equivalents` object: every factor's value (3 significant digits) and
    the method version. Negative or non-finite inputs count as zero."""
    basis = {"energy_wh": energy_wh, "emissions_gco2e": emissions_gco2e, "water_ml": water_ml}
    out: dict[str, Any] = {
        f.name: significant(_amount(basis[f.basis]) / f.per_unit) for f in FACTORS
    }
    out["method"] = METHOD
    return out


def equivalents_of(impacts: Mapping[str, Any]) -> dict[str, Any]:
    """`equivalents()` of an `impacts` JSON object (its central `value`s)."""
    return equivalents(
        energy_wh=central(impacts, "energy_wh"),
        emissions_gco2e=central(impacts, "emissions_gco2e"),
        water_ml=central(impacts, "water_ml"),
    )


def central(impacts: Mapping[str, Any], name: str) -> float:
    """The central value of `name` in an `impacts` object (`{"value": ...}` or a bare
    number); 0.0 when absent."""
    part = impacts.get(name)
    value = part.get("value") if isinstance(part, Mapping) else part
    return float(value) if isinstance(value, int | float) else 0.0


def _amount(x: float) -> float:
    return x if math.isfinite(x) and x > 0 else 0.0


__all__ = [
    "FACTORS",
    "FACTOR_BY_NAME",
    "METHOD",
    "Factor",
    "central",
    "equivalents",
    "equivalents_of",
    "significant",
]
