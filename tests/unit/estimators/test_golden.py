"""Bit-for-bit regression pin: `estimate` over a few hundred seeded random inputs must give
exactly the results recorded in golden_estimates_<METHOD_VERSION>.json (every float
compared by its hex form). It guards speed work on the hot path. A method change bumps
METHOD_VERSION, which makes this test fail until the new version's file is generated on
purpose (docs/methodology.md §8 says what changed between versions):

    .venv/bin/python -m tests.unit.estimators.test_golden
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
from pathlib import Path
from typing import Any

import pytest

from estimators import METHOD_VERSION, EstimatorError, Impacts, Overrides, estimate

GOLDEN = Path(__file__).with_name(f"golden_estimates_{METHOD_VERSION}.json")
N_CASES = 400
MODELS = (
    "openai/gpt-4o",
    "gpt-4o-mini",
    "claude-sonnet-4-5-20250929",
    "claude-3-5-sonnet-20241022",
    "meta-llama/Meta-Llama-3.1-70B-Instruct",
    "meta-llama/Llama-3.1-8B-Instruct",
    "mistral-large-latest",
    "mistralai/Mixtral-8x7B-Instruct-v0.1",
    "gemini-1.5-flash",
    "command-r-plus",
    "some-unknown-model-70b",
    "qwen3-30b-a3b",
    "mystery-mini",
    "mystery",
    "o3",
)
KINDS = ("chat", "chat", "completion", "embedding", "responses", "messages")
PROVIDERS = (None, None, "openai", "anthropic", "vllm", "aws", "huggingface", "nowhere-cloud")
ZONES = (None, None, "FRA", "usa", "aws:us-east-1", "azure:westeurope", "WOR")
HARDWARE = (
    None,
    None,
    {"gpu": "H100", "gpu_count": 4, "batch_size": 64},
    {"gpu": "a100", "batch_size": 8},
    {"batch_size": 256},
    {"gpu": "B200", "gpu_count": None},
)
OVERRIDES = (
    None,
    None,
    None,
    Overrides(pue=1.3, wue_onsite=0.4),
    Overrides(gpu="H200", gpu_count=8, batch_size=32, zone="SWE"),
    Overrides(measured_wh_per_output_token=0.002, measured_wh_per_input_token=0.0001),
    Overrides(measured_wh_per_output_token=0.001, market_gco2e_per_kwh=50.0),
    Overrides(active_params_b=(30, 60), total_params_b=200),
    Overrides(active_params_b=70.0),
    Overrides(model="gpt-4o", provider="azure"),
)
BAD = (  # invalid arguments: the error class and message are pinned too
    {"input_tokens": -1},
    {"output_tokens": 2.5},
    {"latency_s": float("nan")},
    {"ttft_s": -0.5},
    {"kind": "image"},
    {"hardware": {"gpu": "Z80"}},
    {"hardware": {"batch_size": 0}},
    {"hardware": {"colour": "red"}},
    {"zone": "ATLANTIS"},
    {"grid_intensity": -3},
)


def _tokens(rng: random.Random) -> int:
    return rng.choice((0, 1, 7, 100, 500, 1000, rng.randrange(200_000)))


def cases() -> list[tuple[str, dict[str, Any]]]:
    rng = random.Random(20250929)
    out = []
    for i in range(N_CASES):
        kw: dict[str, Any] = {
            "input_tokens": _tokens(rng),
            "output_tokens": _tokens(rng),
            "cached_input_tokens": rng.choice((0, 0, 50, 400, 300_000)),
            "reasoning_tokens": rng.choice((0, 0, 100, 300_000)),
            "latency_s": rng.choice((None, None, 0.0, 0.5, 4.5, 30.0, 10_000.0)),
            "ttft_s": rng.choice((None, None, None, 0.2, 1.5)),
            "kind": rng.choice(KINDS),
            "provider": rng.choice(PROVIDERS),
            "zone": rng.choice(ZONES),
            "hardware": rng.choice(HARDWARE),
            "overrides": rng.choice(OVERRIDES),
            "grid_intensity": rng.choice((None, None, None, 0, 123.4)),
            "ecologits_compat": rng.random() < 0.3,
        }
        if i % 40 == 39:
            kw.update(BAD[(i // 40) % len(BAD)])
        out.append((rng.choice(MODELS), kw))
    return out


def _canon(x: Any) -> Any:
    """Exact, JSON-able form: floats by hex, so no rounding can hide a difference."""
    if isinstance(x, float):
        return x.hex()
    if isinstance(x, tuple | list):
        return [type(x).__name__, *map(_canon, x)]
    if x is None or isinstance(x, str | int):
        return x
    return [type(x).__name__, *(_canon(getattr(x, s)) for s in type(x).__slots__)]


def fingerprint(model: str, kw: dict[str, Any]) -> str:
    try:
        imp = estimate(model, **kw)
        state = [_canon(imp), imp.to_dict(), imp.to_dict("estimated")]
    except EstimatorError as exc:
        state = [type(exc).__name__, str(exc)]
    blob = json.dumps(state, sort_keys=True, default=repr).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def test_results_are_bit_for_bit_pinned() -> None:
    assert GOLDEN.exists(), f"no pinned results for {METHOD_VERSION}: generate {GOLDEN.name}"
    golden = json.loads(GOLDEN.read_text())
    assert len(golden) == N_CASES
    diff = [
        (model, kw)
        for (model, kw), want in zip(cases(), golden, strict=True)
        if fingerprint(model, kw) != want
    ]
    assert not diff, f"{len(diff)} results changed, first: {diff[0]}"


def test_fast_built_impacts_equal_dataclass_built() -> None:
    imp = estimate("gpt-4o", input_tokens=100, output_tokens=300, cached_input_tokens=500)
    assert type(imp) is Impacts
    assert dataclasses.replace(imp) == imp  # rebuilt through the dataclass __init__
    with pytest.raises(dataclasses.FrozenInstanceError):
        imp.energy_wh = imp.water_ml  # type: ignore[misc]


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps([fingerprint(m, kw) for m, kw in cases()], indent=0) + "\n")
