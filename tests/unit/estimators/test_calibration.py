"""Calibration against the published ML.ENERGY v3 points the decode fit uses."""

from __future__ import annotations

import pytest

from estimators import estimate
from estimators.energy import CALIBRATION_REQUEST

# ML.ENERGY leaderboard v3, vLLM, H100 SXM: GPU energy over output tokens (J).
ML_ENERGY = [
    ("meta-llama/Llama-3.1-8B-Instruct", 1, 32, 0.165),
    ("meta-llama/Llama-3.1-8B-Instruct", 1, 64, 0.119),
    ("meta-llama/Llama-3.1-8B-Instruct", 1, 256, 0.077),
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
    return imp.accelerator_wh.value * 3600.0 / n_out


@pytest.mark.parametrize(("model", "gpus", "batch", "joules"), ML_ENERGY)
def test_fit_reproduces_ml_energy(model: str, gpus: int, batch: int, joules: float) -> None:
    ours = gpu_joules_per_output_token(model, gpus, batch)
    assert abs(ours / joules - 1) <= 0.03, (model, batch, ours, joules)


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
