"""Model-name resolution and fallback profiles."""

from __future__ import annotations

import pytest

from estimators import estimate, resolve_model


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gpt-4o", "openai/gpt-4o"),
        ("openai/gpt-4o", "openai/gpt-4o"),
        ("OpenAI/GPT-4o", "openai/gpt-4o"),
        ("azure/gpt-4o", "openai/gpt-4o"),
        ("gpt-4o-2024-08-06", "openai/gpt-4o-2024-08-06"),
        ("gpt-4o-2099-01-01", "openai/gpt-4o"),
        ("chatgpt-4o-latest", "openai/gpt-4o"),
        ("gpt-4o-mini-2024-07-18", "openai/gpt-4o-mini-2024-07-18"),
        ("claude-3-5-sonnet-20241022", "anthropic/claude-3-5-sonnet"),
        ("claude-3-5-sonnet-latest", "anthropic/claude-3-5-sonnet"),
        ("anthropic/claude-3-7-sonnet-20250219", "anthropic/claude-3-7-sonnet"),
        ("claude-sonnet-4-20250514", "anthropic/claude-sonnet-4"),
        ("claude-sonnet-4-0", "anthropic/claude-sonnet-4"),
        ("claude-sonnet-4-5", "anthropic/claude-sonnet-4-5-20250929"),
        ("claude-sonnet-4-5-20250929", "anthropic/claude-sonnet-4-5-20250929"),
        ("claude-opus-4-20250514", "anthropic/claude-opus-4"),
        ("claude-opus-4-1-20250805", "anthropic/claude-opus-4-1"),
        ("claude-opus-4-5", "anthropic/claude-opus-4-5-20251101"),
        ("claude-haiku-4-5", "anthropic/claude-haiku-4-5-20251001"),
        ("claude-3-5-haiku-20241022", "anthropic/claude-haiku-4-5-20251001"),
        ("anthropic.claude-3-5-sonnet-20240620-v1:0", "anthropic/claude-3-5-sonnet"),
        ("us.anthropic.claude-sonnet-4-20250514-v1:0", "anthropic/claude-sonnet-4"),
        ("claude-3-5-sonnet-v2@20241022", "anthropic/claude-3-5-sonnet"),
        ("meta-llama/Llama-3.1-8B-Instruct", "huggingface/meta-llama/Meta-Llama-3.1-8B-Instruct"),
        (
            "meta-llama/Meta-Llama-3.1-70B-Instruct",
            "huggingface/meta-llama/Meta-Llama-3.1-70B-Instruct",
        ),
        ("openai/gpt-oss-120b", "huggingface/openai/gpt-oss-120b"),
        ("mistral-large-latest", "mistral/mistral-large-latest"),
        ("mistral/mistral-large-2407", "mistral/mistral-large-2407"),
        ("gemini-2.5-flash", "google/gemini-2.5-flash"),
        ("gemini-2.0-flash-001", "google/gemini-2.0-flash"),
        ("o3", "openai/o3"),
        ("o3-2025-04-16", "openai/o3"),
        ("o4-mini", "openai/o4-mini"),
        ("deepseek-reasoner", "huggingface/deepseek-ai/DeepSeek-R1-0528"),
        ("deepseek-ai/DeepSeek-R1", "huggingface/deepseek-ai/DeepSeek-R1"),
        ("grok-4-0709", "xai/grok-4"),
        (
            "llama-4-maverick-17b-128e-instruct",
            "huggingface/meta-llama/Llama-4-Maverick-17B-128E-Instruct",
        ),
        ("Qwen/Qwen3-235B-A22B-Instruct-2507-FP8", "huggingface/Qwen/Qwen3-235B-A22B"),
        ("qwen3-32b", "huggingface/Qwen/Qwen3-32B"),
        ("text-embedding-3-small", "openai/text-embedding-3-small"),
        ("BAAI/bge-large-en-v1.5", "huggingface/BAAI/bge-large-en-v1.5"),
    ],
)
def test_alias_resolution(name: str, expected: str) -> None:
    assert resolve_model(name) == expected
    imp = estimate(name, input_tokens=10, output_tokens=10)
    assert imp.model_id == expected
    assert imp.quality in {"modelled-closed", "modelled-open-weights"}
    assert not any(w.startswith("model-not-registered") for w in imp.warnings)


def test_approximate_alias_is_flagged() -> None:
    imp = estimate("claude-3-haiku-20240307", input_tokens=10, output_tokens=10)
    assert any(w.startswith("model-approximate") for w in imp.warnings)


def test_unknown_model_falls_back_with_warning() -> None:
    imp = estimate("acme-super-model", input_tokens=100, output_tokens=100)
    assert imp.quality == "fallback"
    assert imp.model_id is None
    assert any(w.startswith("model-not-registered") for w in imp.warnings)
    assert imp.energy_wh.max / imp.energy_wh.min > 5  # wide range
    assert imp.to_dict()["model"] is None


def test_fallback_uses_size_hints() -> None:
    def wh(name: str) -> float:
        return estimate(name, input_tokens=100, output_tokens=300).energy_wh.value

    assert wh("acme-nano") < wh("acme-8b") < wh("acme-70b") < wh("acme-405b")
    assert wh("acme-mini") < wh("acme-unknown-size")


def test_gemini_names_are_not_sized_as_mini_models() -> None:
    mini = estimate("acme-mini", input_tokens=500, output_tokens=300)
    gemini = estimate("gemini-9.9-ultra-thing", input_tokens=500, output_tokens=300)
    assert "size hint 'mini'" not in " ".join(gemini.warnings)
    sized = gemini.assumptions.active_params_b.value
    assert sized > 3 * mini.assumptions.active_params_b.value
    assert gemini.energy_wh.value > mini.energy_wh.value
    # an unknown Gemini flash/pro version gets the nearest catalogued one, flagged
    flash = estimate("gemini-3.9-flash", input_tokens=10, output_tokens=10)
    assert flash.model_id == "google/gemini-2.5-flash"
    assert any(w.startswith("model-approximate") for w in flash.warnings)


@pytest.mark.parametrize(
    ("name", "precision"),
    [
        ("meta-llama/Llama-3.1-405B-Instruct-FP8", "fp8"),
        ("llama-3.1-70b-instruct-awq", "int4"),
        ("openai/gpt-oss-120b", "mxfp4"),
        ("deepseek-r1", "fp8"),
        ("meta-llama/Llama-3.1-70B-Instruct", "bf16"),
    ],
)
def test_precision_from_catalog_and_name(name: str, precision: str) -> None:
    assert estimate(name, input_tokens=10, output_tokens=10).assumptions.precision == precision


def test_current_families_have_a_source_or_a_stated_range() -> None:
    from estimators.catalog import MODELS

    for model_id in (
        "openai/o3",
        "xai/grok-4",
        "huggingface/deepseek-ai/DeepSeek-V3",
        "huggingface/Qwen/Qwen3-235B-A22B",
        "openai/text-embedding-3-large",
    ):
        profile = MODELS[model_id]
        assert profile.source and profile.source != "wattgate models_extra.json", model_id


def test_encoder_names_get_an_encoder_profile() -> None:
    imp = estimate(
        "distilbert-base-uncased-finetuned-sst-2-english", input_tokens=150, kind="embedding"
    )
    assert imp.quality == "fallback" and imp.model_id is None
    assert any("encoder fallback" in w for w in imp.warnings)
    assert imp.assumptions.total_params_b.max < 0.1


def test_open_weights_quality() -> None:
    imp = estimate("meta-llama/Llama-3.1-8B-Instruct", input_tokens=10, output_tokens=10)
    assert imp.quality == "modelled-open-weights"
    assert estimate("gpt-4o", input_tokens=10, output_tokens=10).quality == "modelled-closed"
