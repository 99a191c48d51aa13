"""Candidate estimates are like for like: same tokens and site, only the model changes."""

from __future__ import annotations

import pytest

from estimators import Overrides, estimate
from proxy.rightsizing.candidates import Site, Tokens, estimate_candidate
from proxy.rightsizing.config import Candidate

TOKENS = Tokens("chat.completions", input_tokens=400, cached_input_tokens=100,
                output_tokens=40, reasoning_tokens=10)
SMALL = Candidate(name="8B model", model="llama-3.1-8b")
CLASSIFIER = Candidate(name="classifier", model="my-encoder", encoder=True,
                       overrides=Overrides(total_params_b=0.1, active_params_b=0.1, gpu="A100"))


def plain(model: str, **kwargs: object) -> float:
    return estimate(model, input_tokens=400, cached_input_tokens=100, output_tokens=40,
                    reasoning_tokens=10, **kwargs).energy_wh.value  # type: ignore[arg-type]


def test_same_tokens_provider_zone_and_applied_intensity() -> None:
    site = Site(provider="azure", zone="FRA", grid_gco2e_per_kwh=123.0)
    imp = estimate_candidate(SMALL, site, TOKENS)
    assert imp.energy_wh.value == plain("llama-3.1-8b", provider="azure", zone="FRA")
    assert imp.grid_gco2e_per_kwh == 123.0
    assert imp.emissions_operational_gco2e == pytest.approx(imp.energy_wh.value * 0.123)


def test_the_deployments_site_facts_apply_to_the_candidate() -> None:
    dep = Overrides(pue=1.6, wue_onsite=2.0, market_gco2e_per_kwh=5.0, gpu="H200")
    site = Site(provider="openai", zone=None, grid_gco2e_per_kwh=None, deployment=dep)
    imp = estimate_candidate(SMALL, site, TOKENS)
    want = plain("llama-3.1-8b", provider="openai",
                 overrides=Overrides(pue=1.6, wue_onsite=2.0, market_gco2e_per_kwh=5.0))
    assert imp.energy_wh.value == pytest.approx(want)
    assert imp.assumptions.pue == 1.6 and imp.assumptions.gpu == "H100"  # GPU is the model's
    assert imp.emissions_market_gco2e is not None


def test_an_encoder_reads_the_input_once_with_its_own_hardware() -> None:
    site = Site(provider="openai", zone=None, grid_gco2e_per_kwh=None,
                deployment=Overrides(pue=1.3))
    imp = estimate_candidate(CLASSIFIER, site, TOKENS)
    want = estimate("my-encoder", input_tokens=400, cached_input_tokens=100, output_tokens=40,
                    reasoning_tokens=10, kind="embedding", provider="openai",
                    overrides=Overrides(total_params_b=0.1, active_params_b=0.1, gpu="A100",
                                        pue=1.3))
    assert imp.energy_wh.value == pytest.approx(want.energy_wh.value)
    assert imp.assumptions.gpu == "A100"
    more_output = estimate_candidate(CLASSIFIER, site, Tokens("chat.completions", 400, 100,
                                                              4000, 10))
    assert more_output.energy_wh.value == imp.energy_wh.value  # no generated tokens
    assert imp.energy_wh.value < 0.01 * plain("gpt-4o", provider="openai")
