"""Calibration against published measurements (ML.ENERGY v3) and per-query figures."""

from __future__ import annotations

import pytest

from estimators import estimate
from estimators.energy import CALIBRATION_REQUEST

# ML.ENERGY leaderboard v3, vLLM, H100 SXM, GPU energy per output token (J).
ML_ENERGY = [
    ("meta-llama/Llama-3.1-8B-Instruct", 1, 8, 0.455),
    ("meta-llama/Llama-3.1-8B-Instruct", 1, 32, 0.165),
    ("meta-llama/Llama-3.1-8B-Instruct", 1, 64, 0.119),
    ("meta-llama/Llama-3.1-8B-Instruct", 1, 256, 0.077),
    ("meta-llama/Llama-3.1-70B-Instruct", 4, 8, 3.76),
    ("meta-llama/Llama-3.1-70B-Instruct", 4, 32, 1.21),
    ("meta-llama/Llama-3.1-70B-Instruct", 4, 64, 0.797),
    ("meta-llama/Llama-3.1-70B-Instruct", 4, 256, 0.479),
]


def gpu_joules_per_output_token(model: str, gpus: int, batch: int) -> float:
    n_in, n_out = CALIBRATION_REQUEST
    imp = estimate(
        model,
        input_tokens=n_in,
        output_tokens=n_out,
        provider="vllm",
        hardware={"gpu": "H100", "gpu_count": gpus, "batch_size": batch},
    )
    assert imp.quality == "modelled-open-weights"
    return imp.breakdown.accelerator_wh * 3600.0 / n_out


@pytest.mark.parametrize(("model", "gpus", "batch", "joules"), ML_ENERGY)
def test_within_25_percent_of_ml_energy(model: str, gpus: int, batch: int, joules: float) -> None:
    ours = gpu_joules_per_output_token(model, gpus, batch)
    assert abs(ours / joules - 1) <= 0.25, (model, batch, ours, joules)


def test_batch_and_size_ordering() -> None:
    small = [
        gpu_joules_per_output_token("meta-llama/Llama-3.1-8B-Instruct", 1, b) for b in (8, 64, 256)
    ]
    assert small[0] > small[1] > small[2]
    big = gpu_joules_per_output_token("meta-llama/Llama-3.1-70B-Instruct", 4, 64)
    assert 4 < big / small[1] < 10


def test_input_tokens_count() -> None:
    short = estimate("openai/gpt-4o", input_tokens=100, output_tokens=300).energy_wh.value
    long = estimate("openai/gpt-4o", input_tokens=10_000, output_tokens=300).energy_wh.value
    assert long > 2 * short
    cached = estimate(
        "openai/gpt-4o", input_tokens=10_000, cached_input_tokens=9_000, output_tokens=300
    ).energy_wh.value
    assert short < cached < long


def test_embedding_is_prefill_only() -> None:
    a = estimate(
        "meta-llama/Llama-3.1-8B-Instruct", input_tokens=1000, output_tokens=0, kind="embedding"
    )
    b = estimate(
        "meta-llama/Llama-3.1-8B-Instruct", input_tokens=1000, output_tokens=50, kind="embedding"
    )
    assert a.energy_wh == b.energy_wh
    assert (
        0
        < a.energy_wh.value
        < estimate(
            "meta-llama/Llama-3.1-8B-Instruct", input_tokens=1000, output_tokens=50
        ).energy_wh.value
    )


# Jegham et al. 2025, GPT-4o facility energy per query (Wh). Reported, loosely bounded.
JEGHAM = [((100, 300), 0.42), ((1000, 1000), 1.21), ((10_000, 1500), 1.79)]


@pytest.mark.parametrize(("tokens", "wh"), JEGHAM)
def test_gpt4o_same_order_as_jegham(tokens: tuple[int, int], wh: float) -> None:
    imp = estimate("openai/gpt-4o", input_tokens=tokens[0], output_tokens=tokens[1])
    assert 0.5 * wh < imp.energy_wh.value < 2 * wh
    assert imp.energy_wh.min < wh < imp.energy_wh.max


def test_hardware_generations() -> None:
    kw = dict(input_tokens=500, output_tokens=500, provider="vllm")
    e = {
        g: estimate(
            "meta-llama/Llama-3.1-70B-Instruct",
            hardware={"gpu": g, "gpu_count": 4, "batch_size": 64},
            **kw,
        ).breakdown.accelerator_wh
        for g in ("A100", "H100", "H200", "B200")
    }
    assert e["A100"] > e["H100"] > e["H200"] > e["B200"]
