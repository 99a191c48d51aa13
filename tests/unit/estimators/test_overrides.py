"""Overrides, argument validation, provider/zone/hardware handling and the JSON shape."""

from __future__ import annotations

import dataclasses

import pytest

from estimators import (
    EstimatorError,
    Impacts,
    InvalidArgumentError,
    Overrides,
    UnknownHardwareError,
    UnknownZoneError,
    estimate,
)


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"gpu_cnt": 4}, "unknown key 'gpu_cnt'"),
        ({"pue": 0.9}, "'pue' must be a number >= 1"),
        ({"pue": "1.2"}, "'pue' must be a number >= 1"),
        ({"gpu": "Z80"}, "unknown GPU kind 'Z80'"),
        ({"gpu_count": 0}, "'gpu_count' must be an integer >= 1"),
        ({"batch_size": 2.5}, "'batch_size' must be an integer >= 1"),
        ({"zone": "XYZ"}, "unknown grid zone 'XYZ'"),
        ({"zone": "aws:mars-1"}, "unknown cloud region 'aws:mars-1'"),
        ({"wue_onsite": -1}, "'wue_onsite' must be a number >= 0"),
        ({"active_params_b": (10, 5)}, "'active_params_b' must have min <= max"),
        ({"active_params_b": [1, 2, 3]}, "'active_params_b' must be a number or a (min, max) pair"),
        ({"total_params_b": -3}, "'total_params_b' must be a number > 0"),
        ({"model": ""}, "'model' must be a non-empty string"),
        ({"measured_wh_per_input_token": 1e-5}, "needs 'measured_wh_per_output_token'"),
        ({"precision": "fp7"}, "'precision' must be one of"),
    ],
)
def test_from_mapping_errors_name_the_key(mapping: dict, message: str) -> None:
    with pytest.raises(EstimatorError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Overrides.from_mapping(mapping)


def test_overrides_are_frozen_and_hashable() -> None:
    ov = Overrides.from_mapping(
        {"gpu": "h100", "gpu_count": 4, "active_params_b": [30, 60], "zone": "FRA"}
    )
    assert ov.gpu == "H100" and ov.active_params_b == (30.0, 60.0)
    assert hash(ov) == hash(
        Overrides.from_mapping(
            {"gpu": "H100", "gpu_count": 4, "active_params_b": (30, 60), "zone": "FRA"}
        )
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        ov.gpu = "A100"  # type: ignore[misc]


def test_overrides_model_and_deployment_defaults() -> None:
    ov = Overrides.from_mapping(
        {
            "model": "openai/gpt-4o",
            "provider": "azure",
            "zone": "azure:swedencentral",
            "pue": 1.12,
            "wue_onsite": 0.3,
            "market_gco2e_per_kwh": 0,
        }
    )
    imp = estimate("my-prod-deployment", input_tokens=100, output_tokens=300, overrides=ov)
    assert imp.model_id == "openai/gpt-4o"
    assert imp.grid_zone == "SWE"
    assert imp.assumptions.pue == 1.12
    assert imp.emissions_market_gco2e == pytest.approx(imp.emissions_embodied_gco2e)
    assert imp.emissions_gco2e.value > imp.emissions_market_gco2e
    # explicit keyword arguments win over the deployment's overrides
    assert (
        estimate("x", input_tokens=1, output_tokens=1, overrides=ov, zone="FRA").grid_zone == "FRA"
    )


def test_market_is_none_without_factor() -> None:
    imp = estimate("gpt-4o", input_tokens=100, output_tokens=100)
    assert imp.emissions_market_gco2e is None and imp.market_source is None
    assert imp.to_dict()["emissions_gco2e"]["market_based"] is None


def test_supplier_specific_market_factor_and_declared_one_wins() -> None:
    google = estimate("gemini-2.5-flash", input_tokens=500, output_tokens=300)
    assert google.market_source is not None and google.market_source.startswith(
        "supplier-specific (google, 2024)"
    )
    # Google reports a 0 g/kWh market-based factor: only the embodied share remains
    assert google.emissions_market_gco2e == pytest.approx(google.emissions_embodied_gco2e)
    declared = estimate(
        "gemini-2.5-flash",
        input_tokens=500,
        output_tokens=300,
        overrides=Overrides(market_gco2e_per_kwh=100.0),
    )
    assert declared.market_source == "operator-declared (deployment configuration)"
    assert declared.emissions_market_gco2e == pytest.approx(
        declared.energy_wh.value * 0.1 + declared.emissions_embodied_gco2e
    )


def test_measured_deployment() -> None:
    ov = Overrides.from_mapping(
        {
            "model": "meta-llama/Llama-3.1-8B-Instruct",
            "provider": "vllm",
            "measured_wh_per_output_token": 1e-4,
            "pue": 1.0,
        }
    )
    imp = estimate("llama", input_tokens=1000, output_tokens=1000, overrides=ov)
    assert imp.quality == "measured"
    assert imp.energy_wh.value == pytest.approx(0.1)
    # measured energy keeps only the measurement's own error (x/÷ 1.1); PUE 1.0 is exact
    assert imp.energy_wh.min == pytest.approx(0.1 / 1.1) and imp.energy_wh.max == pytest.approx(
        0.11
    )
    assert imp.breakdown.server_wh == 0 and imp.breakdown.idle_wh == 0


def test_declared_parameters() -> None:
    ov = Overrides.from_mapping(
        {"active_params_b": 70, "gpu": "H200", "gpu_count": 2, "batch_size": 32}
    )
    imp = estimate("our-finetune", input_tokens=100, output_tokens=100, overrides=ov)
    assert imp.quality == "modelled-open-weights"
    assert imp.assumptions.gpu == "H200" and imp.assumptions.gpu_count == 2
    assert imp.assumptions.active_params_b.value == 70


def test_zones_and_cloud_regions() -> None:
    assert estimate("gpt-4o", output_tokens=10, zone="fra").grid_zone == "FRA"
    assert estimate("gpt-4o", output_tokens=10, zone="gcp:europe-west1").grid_zone == "BEL"
    assert estimate("gpt-4o", output_tokens=10, zone="aws:us-east-1").grid_zone == "USA"
    assert estimate("mistral-large-latest", output_tokens=10).grid_zone == "SWE"
    assert estimate("unknown-thing", output_tokens=10).grid_zone == "WOR"
    fra = estimate("gpt-4o", output_tokens=100, zone="FRA")
    usa = estimate("gpt-4o", output_tokens=100, zone="USA")
    assert fra.emissions_gco2e.value < usa.emissions_gco2e.value
    with pytest.raises(UnknownZoneError):
        estimate("gpt-4o", output_tokens=10, zone="Atlantis")


def test_provider_defaults() -> None:
    a = estimate("gpt-4o", input_tokens=100, output_tokens=100, provider="aws")
    assert a.assumptions.pue == 1.15 and a.assumptions.wue_onsite_l_per_kwh == 0.12
    b = estimate("gpt-4o", input_tokens=100, output_tokens=100, provider="martian-cloud")
    assert any(w.startswith("provider-unknown") for w in b.warnings)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"input_tokens": -1},
        {"output_tokens": -5},
        {"output_tokens": 1.5},
        {"cached_input_tokens": "3"},
        {"latency_s": -1.0},
        {"ttft_s": float("nan")},
        {"kind": "image"},
        {"grid_intensity": -3},
        {"hardware": {"gpus": 4}},
        {"hardware": {"gpu_count": 0}},
    ],
)
def test_invalid_arguments_raise(kwargs: dict) -> None:
    with pytest.raises(InvalidArgumentError):
        estimate("gpt-4o", **kwargs)


def test_unknown_gpu_raises() -> None:
    with pytest.raises(UnknownHardwareError, match="unknown GPU kind"):
        estimate("gpt-4o", output_tokens=1, hardware={"gpu": "TPUv5"})


def test_inconsistent_usage_is_clamped() -> None:
    imp = estimate(
        "gpt-4o", input_tokens=10, cached_input_tokens=50, output_tokens=5, reasoning_tokens=9
    )
    assert imp.cached_input_tokens == 10 and imp.reasoning_tokens == 5
    assert sum(w.startswith("usage-clamped") for w in imp.warnings) == 2


def test_reasoning_tokens_are_output_tokens() -> None:
    a = estimate("gpt-5", input_tokens=100, output_tokens=1000, reasoning_tokens=0)
    b = estimate("gpt-5", input_tokens=100, output_tokens=1000, reasoning_tokens=900)
    assert a.energy_wh == b.energy_wh


def test_latency_does_not_change_the_token_based_estimate() -> None:
    base = estimate("gpt-4o", input_tokens=100, output_tokens=300)
    timed = estimate("gpt-4o", input_tokens=100, output_tokens=300, latency_s=0.5, ttft_s=3.0)
    assert timed.energy_wh == base.energy_wh and timed.emissions_gco2e == base.emissions_gco2e
    # EcoLogits' formulas cap their modelled time with the measured latency
    slow = estimate("gpt-4o", input_tokens=100, output_tokens=300, ecologits_compat=True)
    fast = estimate(
        "gpt-4o", input_tokens=100, output_tokens=300, latency_s=0.5, ecologits_compat=True
    )
    assert fast.breakdown.server_wh < slow.breakdown.server_wh


def test_to_dict_shape() -> None:
    imp = estimate("gpt-4o", input_tokens=42, output_tokens=120)
    assert isinstance(imp, Impacts)
    d = imp.to_dict(usage_source="estimated")
    assert set(d) == {
        "energy_wh",
        "emissions_gco2e",
        "water_ml",
        "grid",
        "usage",
        "method",
        "warnings",
        "breakdown",
        "quality",
        "model",
    }
    assert set(d["emissions_gco2e"]) == {
        "value",
        "min",
        "max",
        "operational",
        "embodied",
        "market_based",
        "market_based_source",
    }
    assert set(d["water_ml"]) == {"value", "min", "max", "onsite", "offsite"}
    assert d["water_ml"]["onsite"] + d["water_ml"]["offsite"] == pytest.approx(
        d["water_ml"]["value"], rel=1e-5
    )
    assert set(d["grid"]) == {"zone", "gco2e_per_kwh", "source"}
    assert d["usage"] == {
        "input_tokens": 42,
        "output_tokens": 120,
        "cached_input_tokens": 0,
        "reasoning_tokens": 0,
        "source": "estimated",
    }
    assert set(d["breakdown"]) == {"accelerator_wh", "server_wh", "idle_wh", "overhead_wh"}
    assert d["grid"]["gco2e_per_kwh"] == 384.4
    assert len(repr(d["energy_wh"]["value"]).replace("0.", "").lstrip("0")) <= 8
    import orjson

    assert orjson.loads(orjson.dumps(d)) == d
