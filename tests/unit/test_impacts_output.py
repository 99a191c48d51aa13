"""How numbers of impacts are written: one rounding rule for bodies, headers and reports."""

from __future__ import annotations

import math

import pytest

from estimators import estimate
from estimators.types import significant
from proxy.impacts import impact_headers, plain_decimal


@pytest.mark.parametrize(
    ("x", "text"),
    [
        (0.343126091, "0.343126"),
        (384.40000000000003, "384.4"),
        (0.5, "0.5000"),
        (1234567.3, "1234570"),
        (1.2e-7, "0.0000001200"),
        (12.0, "12.00"),
        (-0.25, "-0.2500"),
        (0.0, "0"),
        (1e-300, "0"),
        (math.inf, "0"),
        (math.nan, "0"),
    ],
)
def test_plain_decimal(x: float, text: str) -> None:
    assert plain_decimal(x) == text


def test_headers_and_body_show_the_same_numbers() -> None:
    imp = estimate("gpt-4o", input_tokens=1234, output_tokens=567)
    headers = dict(impact_headers(imp))
    body = imp.to_dict()
    assert float(headers[b"x-energy-wh"]) == body["energy_wh"]["value"]
    assert float(headers[b"x-emissions-gco2e-max"]) == body["emissions_gco2e"]["max"]
    assert float(headers[b"x-water-ml"]) == body["water_ml"]["value"]
    assert headers[b"x-grid-intensity-gco2e-per-kwh"] == b"384.4"
    assert body["grid"]["gco2e_per_kwh"] == 384.4
    for value in (body["energy_wh"]["value"], body["water_ml"]["onsite"]):
        assert value == significant(value)
