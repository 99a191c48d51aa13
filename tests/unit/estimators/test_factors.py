"""The applied-coefficients record (`Assumptions.factors`) and its description."""

from __future__ import annotations

import pytest

from estimators import Overrides, estimate
from estimators.factors import declared_conditions, describe, encode


def _by_key(text: str) -> dict[str, object]:
    return {c.key: c for c in describe(text)}


def test_origins_follow_where_each_value_came_from() -> None:
    ov = Overrides(
        model="gpt-4o",
        provider="azure",
        pue=1.18,
        market_gco2e_per_kwh=40,
        gpu="H200",
        batch_size=32,
    )
    imp = estimate("prod-4o", input_tokens=10, output_tokens=10, overrides=ov)
    c = _by_key(imp.assumptions.factors)
    assert (c["pue"].value, c["pue"].origin, c["pue"].unit) == (1.18, "declared", "ratio")
    assert c["pue"].source == "operator-declared (deployment configuration)"
    assert (c["wue_onsite"].origin, c["market"].origin) == ("provider", "declared")
    assert c["wue_onsite"].source.startswith("azure: ")
    assert (c["gpu"].value, c["gpu"].origin, c["gpus"].origin) == ("H200", "declared", "assumed")
    assert c["embodied_gpu"].origin == "hardware" and "H200" in c["embodied_gpu"].source
    assert c["active_params"].origin == "catalog"


def test_supplier_factor_and_catalog_source() -> None:
    imp = estimate("gemini-2.5-flash", input_tokens=10, output_tokens=10)
    rows = describe(imp.assumptions.factors, model_source="https://example.org/card")
    c = {r.key: r for r in rows}
    assert c["market"].origin == "supplier" and "GSF Real Time Cloud" in c["market"].source
    assert c["active_params"].source == "https://example.org/card"
    assert all(r.unit for r in rows)


def test_measured_and_compat_records() -> None:
    measured = estimate(
        "x", output_tokens=5, overrides=Overrides(measured_wh_per_output_token=0.001)
    )
    m = _by_key(measured.assumptions.factors)
    assert m["measured_out"].value == 0.001 and "host_share" not in m
    compat = estimate("gpt-4o", output_tokens=5, ecologits_compat=True)
    k = _by_key(compat.assumptions.factors)
    assert k["formulas"].value == "ecologits-0.11.3" and "idle_share" not in k


def test_declared_conditions_are_what_another_model_would_keep() -> None:
    ov = Overrides(
        gpu="A100",
        gpu_count=4,
        batch_size=16,
        pue=1.4,
        precision="fp8",
        measured_wh_per_output_token=0.002,
    )
    text = estimate(
        "meta-llama/Llama-3.1-70B-Instruct", output_tokens=5, overrides=ov
    ).assumptions.factors
    assert declared_conditions(text) == {
        "gpu": "A100",
        "batch_size": 16,
        "pue": 1.4,
        "precision": "fp8",
    }
    assert declared_conditions(estimate("gpt-4o", output_tokens=5).assumptions.factors) == {}


def test_encode_rejects_unknown_keys_and_describe_keeps_them() -> None:
    with pytest.raises(ValueError, match="unknown coefficient key"):
        encode("openai", [("colour", 1.0, "declared")])
    [row, *_] = describe("site=openai;colour=blue@declared")
    assert (row.key, row.value, row.origin) == ("colour", "blue", "declared")
