"""`ecologits_compat=True` reproduces EcoLogits 0.11.3 `llm_impacts` (value = mean of range)."""

from __future__ import annotations

import logging

import pytest

ecologits_utils = pytest.importorskip("ecologits.tracers.utils")

from estimators import estimate  # noqa: E402

MODELS = [
    ("openai", "gpt-4o"),
    ("openai", "gpt-4o-mini"),
    ("openai", "gpt-5"),
    ("openai", "gpt-4"),
    ("openai", "gpt-3.5-turbo"),
    ("anthropic", "claude-sonnet-4-5-20250929"),
    ("anthropic", "claude-opus-4-5-20251101"),
    ("anthropic", "claude-haiku-4-5"),
    ("mistralai", "mistral-large-latest"),
    ("google_genai", "gemini-2.5-pro"),
    ("cohere", "command-a-03-2025"),
    ("huggingface_hub", "meta-llama/Meta-Llama-3.1-8B-Instruct"),
    ("huggingface_hub", "meta-llama/Meta-Llama-3.1-405B-Instruct"),
]


def _mean(v: object) -> float:
    return float(getattr(v, "mean", v))  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _quiet() -> None:
    logging.getLogger("ecologits").setLevel(logging.ERROR)


@pytest.mark.parametrize(("provider", "name"), MODELS)
@pytest.mark.parametrize(("out", "latency"), [(500, 7.5), (300, 1e9), (40, 0.3)])
def test_matches_ecologits(provider: str, name: str, out: int, latency: float) -> None:
    ref = ecologits_utils.llm_impacts(provider, name, out, latency)
    assert not ref.has_errors
    ours = estimate(
        name, input_tokens=2000, output_tokens=out, latency_s=latency, ecologits_compat=True
    )
    assert ours.energy_wh.value == pytest.approx(_mean(ref.energy.value) * 1e3, rel=0.01)
    assert ours.emissions_gco2e.value == pytest.approx(_mean(ref.gwp.value) * 1e3, rel=0.01)
    assert ours.emissions_embodied_gco2e == pytest.approx(
        _mean(ref.embodied.gwp.value) * 1e3, rel=0.01
    )
    assert ours.water_ml.value == pytest.approx(_mean(ref.wcf.value) * 1e3, rel=0.01)
    emin = getattr(ref.energy.value, "min", ref.energy.value) * 1e3
    assert ours.energy_wh.min == pytest.approx(emin, rel=0.01)


def test_compat_ignores_input_and_zone_is_honoured() -> None:
    a = estimate("gpt-4o", input_tokens=10, output_tokens=100, latency_s=5, ecologits_compat=True)
    b = estimate(
        "gpt-4o", input_tokens=10_000, output_tokens=100, latency_s=5, ecologits_compat=True
    )
    assert a.energy_wh == b.energy_wh
    ref = ecologits_utils.llm_impacts("openai", "gpt-4o", 100, 5, electricity_mix_zone="FRA")
    fra = estimate("gpt-4o", output_tokens=100, latency_s=5, zone="FRA", ecologits_compat=True)
    assert fra.emissions_gco2e.value == pytest.approx(_mean(ref.gwp.value) * 1e3, rel=0.01)
    assert fra.method.startswith("ecologits-compat")
