"""The `wattgate-4` physics: each behaviour the method claims, checked on the estimator."""

from __future__ import annotations

import pytest

from estimators import Impacts, Overrides, estimate
from estimators.serving import HIDDEN_REASONING_PER_OUTPUT, HOST_SHARE, concurrency

H100x4 = {"gpu": "H100", "gpu_count": 4}


def j_per_output_token(model: str, n_in: int, n_out: int, **hw: int | str) -> float:
    imp = estimate(model, input_tokens=n_in, output_tokens=n_out, provider="vllm", hardware=hw)
    return imp.accelerator_wh.value * 3600.0 / n_out


def test_host_is_a_share_of_it_energy_at_any_batch() -> None:
    for batch in (1, 64):
        imp = estimate(
            "meta-llama/Llama-3.1-8B-Instruct",
            input_tokens=500,
            output_tokens=300,
            hardware={"batch_size": batch},
        )
        b = imp.breakdown
        share = b.server_wh / (b.accelerator_wh + b.server_wh)
        assert share == pytest.approx(HOST_SHARE.mid)


def test_prefill_attention_grows_faster_than_context() -> None:
    def wh(n_in: int) -> float:
        return estimate("openai/gpt-4o", input_tokens=n_in, output_tokens=1).energy_wh.value

    assert wh(100_000) > 12 * wh(10_000)


def test_long_contexts_shrink_the_batch_and_cost_more_per_token() -> None:
    kw = {"gpu": "B200", "gpu_count": 1, "batch_size": 512}
    short = j_per_output_token("Qwen/Qwen3-32B", 634, 627, **kw)
    long = j_per_output_token("Qwen/Qwen3-32B", 224, 7000, **kw)
    assert long > 1.5 * short
    # a declared batch is bounded by the KV-cache room: 512 x 3,700 tokens do not fit
    same_batch_shorter = j_per_output_token(
        "Qwen/Qwen3-32B", 224, 7000, gpu="B200", gpu_count=1, batch_size=100
    )
    assert long == pytest.approx(same_batch_shorter, rel=0.2)


def test_mixture_of_experts_costs_far_less_than_dense_of_its_total_size() -> None:
    moe = j_per_output_token(
        "Qwen/Qwen3-30B-A3B", 500, 500, gpu="H100", gpu_count=1, batch_size=512
    )
    dense = j_per_output_token("Qwen/Qwen3-32B", 500, 500, gpu="H100", gpu_count=1, batch_size=512)
    assert dense > 2 * moe
    # one sequence touches only its active experts
    moe_1 = j_per_output_token(
        "Qwen/Qwen3-30B-A3B", 500, 500, gpu="H100", gpu_count=1, batch_size=1
    )
    dense_1 = j_per_output_token("Qwen/Qwen3-32B", 500, 500, gpu="H100", gpu_count=1, batch_size=1)
    assert dense_1 > 4 * moe_1


def test_quantised_weights_need_fewer_gpus() -> None:
    bf16 = estimate("meta-llama/Llama-3.1-405B-Instruct", input_tokens=10, output_tokens=10)
    fp8 = estimate("meta-llama/Llama-3.1-405B-Instruct-FP8", input_tokens=10, output_tokens=10)
    assert (bf16.assumptions.gpu_count, fp8.assumptions.gpu_count) == (16, 8)
    declared = estimate(
        "meta-llama/Llama-3.1-405B-Instruct",
        input_tokens=10,
        output_tokens=10,
        hardware={"gpu": "H100", "gpu_count": 8},
    )
    assert any(w.startswith("deployment-precision") for w in declared.warnings)
    mxfp4 = estimate("openai/gpt-oss-120b", input_tokens=10, output_tokens=10)
    assert mxfp4.assumptions.gpu_count == 1


def classify(model: str, overrides: Overrides | None = None) -> Impacts:
    """A 150-token classification call, one at a time on an A100."""
    return estimate(
        model,
        input_tokens=150,
        kind="embedding",
        hardware={"gpu": "A100", "batch_size": 1},
        overrides=overrides,
    )


def test_a_classifier_is_well_under_one_percent_of_an_llm_call() -> None:
    clf = classify("distilbert-base-uncased-finetuned-sst-2-english")
    llm = estimate("gpt-4o", input_tokens=150, output_tokens=300)
    assert 0 < clf.energy_wh.value < 0.01 * llm.energy_wh.value
    # a pass has a fixed cost: one token costs far more than a 150th of 150 tokens
    one = estimate(
        "bert-base-uncased", input_tokens=1, kind="embedding", hardware={"batch_size": 1}
    )
    many = estimate(
        "bert-base-uncased", input_tokens=150, kind="embedding", hardware={"batch_size": 1}
    )
    assert one.energy_wh.value > 0.5 * many.energy_wh.value
    # served in batches, the fixed cost is shared
    batched = estimate(
        "bert-base-uncased", input_tokens=150, kind="embedding", hardware={"batch_size": 64}
    )
    assert batched.energy_wh.value < 0.1 * many.energy_wh.value


def test_a_hosted_classifier_is_well_under_one_percent_of_a_short_llm_classification() -> None:
    # a classification-shaped call: short prompt, a label back
    llm = estimate("gpt-4o", input_tokens=60, output_tokens=5)
    clf = estimate(
        "fine-tuned-classifier",
        input_tokens=60,
        kind="embedding",
        provider="openai",
        overrides=Overrides(active_params_b=0.125, total_params_b=0.125),
    )
    assert 0 < clf.energy_wh.value < 0.005 * llm.energy_wh.value
    # a batching server runs leaner passes than a batch-1 pipeline, and shares them
    one_at_a_time = estimate(
        "fine-tuned-classifier",
        input_tokens=60,
        kind="embedding",
        provider="openai",
        hardware={"batch_size": 1},
        overrides=Overrides(active_params_b=0.125, total_params_b=0.125),
    )
    assert clf.energy_wh.max < one_at_a_time.energy_wh.min


def test_encoders_do_not_decode() -> None:
    a = estimate("text-embedding-3-small", input_tokens=500, output_tokens=0, kind="embedding")
    b = estimate("text-embedding-3-small", input_tokens=500, output_tokens=900)
    assert a.energy_wh == b.energy_wh


def test_ranges_come_from_the_assumptions_that_are_unknown() -> None:
    def width(**kw: object) -> float:
        e = estimate(
            "meta-llama/Llama-3.1-70B-Instruct", input_tokens=500, output_tokens=500, **kw
        ).energy_wh  # type: ignore[arg-type]
        return e.max / e.min

    declared = width(
        provider="vllm",
        overrides=Overrides(pue=1.2),
        hardware={"gpu": "H100", "gpu_count": 4, "batch_size": 64},
    )
    assumed_batch = width(provider="vllm", overrides=Overrides(pue=1.2))
    assumed_site = width(
        provider="vllm", hardware={"gpu": "H100", "gpu_count": 4, "batch_size": 64}
    )
    assert declared < assumed_batch and declared < assumed_site

    # the concurrency matters for decoding, hardly for a prompt-only call
    def spread(n_in: int, n_out: int) -> float:
        e = estimate(
            "meta-llama/Llama-3.1-70B-Instruct",
            input_tokens=n_in,
            output_tokens=n_out,
            provider="vllm",
            overrides=Overrides(pue=1.2),
        ).energy_wh
        return e.max / e.min

    assert spread(5000, 1) < spread(1, 5000)


def test_concurrency_follows_the_gpus_of_a_replica() -> None:
    def batch(**hw: int | str) -> float:
        imp = estimate(
            "meta-llama/Llama-3.1-70B-Instruct",
            input_tokens=500,
            output_tokens=500,
            provider="vllm",
            hardware=hw,
        )
        return imp.assumptions.batch_size

    assert batch(gpu_count=8) == 2 * batch(gpu_count=4) == concurrency(8).mid
    assert batch(gpu_count=8, batch_size=100) == 100  # a declared batch is the batch
    # a single GPU holding a small model can be filled further than its share of a large replica
    one, eight = concurrency(1), concurrency(8)
    assert one.hi / one.lo > eight.hi / eight.lo and one.mid > eight.mid / 8
    # a small model on one GPU carries fewer streams than a large one spread over many,
    # so its weights are shared by fewer tokens: it costs more per token than its size says
    small = estimate("gpt-4o-mini", input_tokens=100, output_tokens=300)
    large = estimate("gpt-4o", input_tokens=100, output_tokens=300)
    assert small.assumptions.gpu_count == 1 < large.assumptions.gpu_count
    assert small.assumptions.batch_size < large.assumptions.batch_size
    weights = small.assumptions.total_params_b.value / large.assumptions.total_params_b.value
    assert small.accelerator_wh.value / large.accelerator_wh.value > 4 * weights


def test_an_undisclosed_attention_design_widens_long_context_ranges() -> None:
    def width(model: str, n_in: int, n_out: int, overrides: Overrides | None = None) -> float:
        e = estimate(model, input_tokens=n_in, output_tokens=n_out, overrides=overrides)
        return e.accelerator_wh.max / e.accelerator_wh.min

    # the same parameters declared (a published architecture) against the closed catalog entry
    known = Overrides(active_params_b=(44, 132), total_params_b=440)
    closed_growth = width("gpt-4o", 10_000, 1500) / width("gpt-4o", 100, 300)
    known_growth = width("gpt-4o", 10_000, 1500, known) / width("gpt-4o", 100, 300, known)
    assert closed_growth > known_growth


def test_narrower_boundaries_nest() -> None:
    imp = estimate("gpt-4o", input_tokens=1000, output_tokens=500)
    for a, b in ((imp.accelerator_wh, imp.it_energy_wh), (imp.it_energy_wh, imp.energy_wh)):
        assert a.value < b.value and a.max / a.min <= b.max / b.min * (1 + 1e-12)
    b = imp.breakdown
    assert imp.it_energy_wh.value == pytest.approx(b.accelerator_wh + b.server_wh + b.idle_wh)


def test_water_splits_into_onsite_and_offsite() -> None:
    imp = estimate("gpt-4o", input_tokens=1000, output_tokens=500)
    a = imp.assumptions
    assert imp.water_onsite_ml == pytest.approx(imp.it_energy_wh.value * a.wue_onsite_l_per_kwh)
    assert imp.water_offsite_ml == pytest.approx(imp.energy_wh.value * a.wue_offsite_l_per_kwh)
    assert imp.water_ml.value == pytest.approx(imp.water_onsite_ml + imp.water_offsite_ml)


def test_reasoning_models_are_catalogued_with_bounded_ranges() -> None:
    for name in ("o3", "o4-mini", "deepseek-reasoner", "grok-4"):
        imp = estimate(name, input_tokens=1000, output_tokens=4000, reasoning_tokens=3000)
        assert imp.quality != "fallback", name
        assert imp.energy_wh.max / imp.energy_wh.min < 10, name
        assert not any(w.startswith("reasoning-imputed") for w in imp.warnings), name


def test_hidden_reasoning_left_out_of_the_count_is_imputed() -> None:
    per_output = HIDDEN_REASONING_PER_OUTPUT
    visible = estimate("o3", input_tokens=1000, output_tokens=1000)
    assert any(w.startswith("reasoning-imputed") for w in visible.warnings)
    # the central estimate is the call with the imputed reasoning counted
    counted = round(1000 * (1 + per_output.mid))
    full = estimate("o3", input_tokens=1000, output_tokens=counted, reasoning_tokens=counted - 1000)
    assert visible.energy_wh.value == pytest.approx(full.energy_wh.value)
    assert visible.accelerator_wh.value == pytest.approx(full.accelerator_wh.value)
    # not knowing how much it reasoned widens the range both ways
    assert visible.energy_wh.max / visible.energy_wh.min > 2 * (
        full.energy_wh.max / full.energy_wh.min
    )
    # usage stays as reported
    assert visible.to_dict()["usage"]["output_tokens"] == 1000
    # visible reasoning (DeepSeek-R1 counts it in the output) and non-reasoning models: as given
    for name in ("deepseek-reasoner", "gpt-4o"):
        imp = estimate(name, input_tokens=1000, output_tokens=1000)
        assert not any(w.startswith("reasoning-imputed") for w in imp.warnings), name
    # a prompt-only call has no answer to scale
    none = estimate("o3", input_tokens=1000, output_tokens=0)
    assert not any(w.startswith("reasoning-imputed") for w in none.warnings)


def test_embedding_calls_are_one_pass_whatever_the_model() -> None:
    # a classifier under a name no catalog knows, with its size declared
    declared = classify(
        "my-sentiment-classifier", Overrides(active_params_b=0.066, total_params_b=0.066)
    )
    named = classify("distilbert-base-uncased-finetuned-sst-2-english")
    assert declared.energy_wh.value == pytest.approx(named.energy_wh.value, rel=0.1)
    assert declared.breakdown.server_wh > declared.breakdown.accelerator_wh * 0.5


def test_ranges_are_continuous_where_the_kv_room_starts_to_bind() -> None:
    # below the context at which a batch cap binds, the concurrency and KV-cache ends are
    # taken by difference from the central call; above it, in full: no step between them
    prev = None
    for n_in in range(2800, 4000, 20):
        e = estimate("gpt-4o", input_tokens=n_in, output_tokens=100).energy_wh
        if prev is not None:
            for now, before in zip(e, prev, strict=True):
                assert now == pytest.approx(before, rel=0.02), n_in
        prev = e
