"""Per-token GPU energy of one deployment: the Wattgate physics, and EcoLogits 0.11.3's
formulas for compatibility mode. Pure arithmetic, no I/O; every constant is explained, with
its source, in docs/methodology.md §3.

A `Load` holds the coefficients of one deployment corner (parameters, precision, GPUs,
concurrency); `gpu_joules` turns a call's token counts into joules with it. Building a
`Load` is cached per deployment by `estimate()`; evaluating one is a few multiplications.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from estimators.hardware import REFERENCE_GPU, GpuSpec

# -- decode, fitted on ML.ENERGY v3 (vLLM, H100 SXM, GPU energy per output token) ---------------
# Energy of one decode step = GPUs x STEP_J + MEM_J_PER_GB x (GB of weights read)
#     + DECODE_J_PER_GFLOP x (GFLOP of the batch) + KV_J_PER_GB x (GB of KV cache read).
# Least squares on relative error over the six published points (Llama-3.1-8B on 1 GPU and
# 70B on 4 GPUs at batch 32, 64 and 256; the benchmark's figure is total GPU energy over
# output tokens, so the prefill of CALIBRATION_REQUEST is part of the fitted model),
# residuals within 2.4 %.
STEP_J = 0.4216  # J per GPU per decode step: launches, synchronisation, static power
MEM_J_PER_GB = 0.1781  # J per GB of weights read from HBM, incl. the power while memory-bound
DECODE_J_PER_GFLOP = 0.844e-3  # decode matmuls
KV_J_PER_GB = 0.2954  # J per GB of KV cache read by attention (paged, less regular than weights)
CALIBRATION_REQUEST = (500, 500)  # (input, output) tokens assumed for the ML.ENERGY workload

# Weights are read at BF16 cost whatever their storage precision: ML.ENERGY v3 measured FP8
# against BF16 at equal GPUs and batch at +30 % (batch 8-16) to -11 % (batch 65-256) median,
# so precision changes the memory footprint (GPU count, KV-cache room), not the J per weight.
BF16_BYTES = 2.0
PRECISION_BYTES = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0, "mxfp4": 0.53, "int4": 0.53}

# KV cache per token of context, Llama-3 family (GQA, BF16): 8B 131 KB, 70B 328 KB, 405B 516 KB.
KV_KB_COEF, KV_EXP = 62.0, 0.37
# Attention width (layers x model width) of Llama-3 family: 8B 131k, 70B 655k, 405B 2.06M.
ATTN_COEF, ATTN_EXP = 29_200.0, 0.72

# -- prefill (compute-bound) ------------------------------------------------------------------
PREFILL_POWER_FRACTION = 0.85  # of TDP while compute-bound (ML.ENERGY observes 0.7-0.99 x TDP)
PREFILL_MFU = 0.45  # model FLOPs utilisation of a batched prefill
CACHED_INPUT_FACTOR = 0.10  # a prompt-cache hit costs ~10 % of recomputing the token

# -- memory and batching ---------------------------------------------------------------------
MEMORY_OVERHEAD = 1.2  # weights x 1.2 must fit in GPU memory (EcoLogits)
GPU_MEMORY_UTILISATION = 0.9  # share of GPU memory for weights + KV cache (vLLM default)
SCHEDULER_MAX_SEQS = 256  # vLLM's default max_num_seqs

# -- encoders (embeddings, classifiers, rerankers) ----------------------------------------------
ENCODER_MFU = 0.25  # batch 1: one short sequence, small matrices (batched: PREFILL_MFU)
ENCODER_LIGHT_POWER_FRACTION = 0.25  # GPU draw during a batch-1 forward pass, of TDP

# -- EcoLogits 0.11.3 (ecologits/impacts/llm.py), compatibility mode only ------------------------
ECO_ALPHA = 1.1665273170451914e-06
ECO_BETA = -0.011205921025579175
ECO_GAMMA = 4.052928146734005e-05
ECO_LAT_ALPHA = 0.0006785088094353663
ECO_LAT_BETA = 0.0003119310311688259
ECO_LAT_GAMMA = 0.019473717579473387
ECO_GPU_MEMORY_GB = 80.0
ECO_GPU_EMBODIED_KGCO2E = 273.0
ECO_SERVER_POWER_W = 1200.0
ECO_SERVER_GPUS = 8
ECO_SERVER_EMBODIED_KGCO2E = 5700.0
ECO_LIFETIME_S = 3 * 365 * 24 * 3600
ECO_BATCH = 64
ECO_QUANT_BYTES = 2.0


class Load(NamedTuple):
    """GPU-energy coefficients of one deployment corner (joules; `call_joules` applies them).
    The fields `call_joules` reads come first, in its order."""

    e_out: float  # per output token at the configured batch: weights share + decode compute
    e_kv: float  # per output token per token of context: KV-cache reads
    e_in: float  # per uncached input token: prefill matmuls
    e_attn: float  # per unit of (input² - cached²): prefill attention
    e_cached: float  # per cached input token
    e_call: float  # per call: fixed GPU cost of a low-batch encoder pass
    cap_ctx: float  # context above which `batch` sequences no longer fit (kv_cap / batch)
    kv_cap: float  # context tokens the free GPU memory holds (inf: never binding)
    step_j: float  # per decode step, fixed (GPUs x STEP_J)
    read_j: float  # per decode step, to read every weight once
    log_idle_expert: float  # ln(1 - active/total): a token leaves this share unread (-inf: dense)
    flop_j: float  # per output token, decode compute
    host_call: float  # per call: host (CPU, DRAM) power over that pass
    batch: float  # configured concurrent sequences
    gpu_count: int


def bytes_per_param(precision: str) -> float:
    return PRECISION_BYTES[precision]


def gpus_needed(total_b: float, weight_bytes: float, memory_gb: float) -> int:
    """EcoLogits' rule on the stored weights: x 1.2, rounded up to a power of two of GPUs."""
    n = math.ceil(MEMORY_OVERHEAD * total_b * weight_bytes / memory_gb)
    return 1 if n <= 1 else 2 ** math.ceil(math.log2(n))


def kv_gb_per_token(active_b: float) -> float:
    return KV_KB_COEF * active_b**KV_EXP * 1e-6


def attention_width(active_b: float) -> float:
    """Layers x model width, for the attention FLOPs of a pair of tokens (4 x this)."""
    return ATTN_COEF * active_b**ATTN_EXP


def log_idle_expert(moe_r: float) -> float:
    """ln of the share of a mixture's weights one token does not read (-inf for a dense
    model), so that `batch` tokens leave exp(batch x this) of them unread."""
    return -math.inf if moe_r >= 1.0 else math.log1p(-moe_r)


def weights_read_fraction(moe_r: float, batch: float) -> float:
    """Share of the weights a decode step of `batch` sequences reads: all of a dense model;
    for a mixture of experts the experts touched by `batch` tokens, 1 - (1 - r)^batch."""
    return 1.0 if moe_r >= 1.0 else 1.0 - (1.0 - moe_r) ** batch


def _scaled(gpu: GpuSpec) -> tuple[float, float, float, float]:
    """(weights J/GB, KV J/GB, J/GFLOP, J/step) on `gpu`, scaled from the H100 fit by
    datasheet ratios (power per bandwidth, power per FLOP/s, power)."""
    ref = REFERENCE_GPU
    per_bw = (gpu.tdp_w / gpu.bandwidth_tbs) / (ref.tdp_w / ref.bandwidth_tbs)
    flop = DECODE_J_PER_GFLOP * (gpu.tdp_w / gpu.bf16_tflops) / (ref.tdp_w / ref.bf16_tflops)
    return MEM_J_PER_GB * per_bw, KV_J_PER_GB * per_bw, flop, STEP_J * gpu.tdp_w / ref.tdp_w


def prefill_j_per_gflop(gpu: GpuSpec, mfu: float = PREFILL_MFU) -> float:
    return gpu.tdp_w * PREFILL_POWER_FRACTION / (gpu.bf16_tflops * 1e3 * mfu)


def decoder_load(
    *,
    active_b: float,
    total_b: float,
    weight_bytes: float,
    gpu: GpuSpec,
    gpu_count: int,
    batch: float,
    kv_scale: float = 1.0,
) -> Load:
    """Coefficients of a decoder LLM on `gpu_count` x `gpu` serving `batch` sequences.

    `batch` is the scheduler's limit; per call, `gpu_joules` lowers it to what the
    KV-cache room (`kv_cap`) holds at that call's context length. `kv_scale` multiplies the
    KV cache per token of the Llama-3 fit (another attention design).
    """
    mem_j, kv_j, flop_j_gflop, step_j1 = _scaled(gpu)
    free_gb = GPU_MEMORY_UTILISATION * gpu_count * gpu.memory_gb - total_b * weight_bytes
    kv_gb = kv_gb_per_token(active_b) * kv_scale
    kv_cap = max(free_gb / kv_gb, 1.0)
    r = min(1.0, active_b / total_b)
    read_j = mem_j * BF16_BYTES * total_b
    step_j = gpu_count * step_j1
    flop_j = flop_j_gflop * 2.0 * active_b
    pf = prefill_j_per_gflop(gpu)
    e_in = pf * 2.0 * active_b
    return Load(
        e_out=(step_j + read_j * weights_read_fraction(r, batch)) / batch + flop_j,
        e_kv=kv_j * kv_gb,
        e_in=e_in,
        e_attn=pf * 2.0 * attention_width(active_b) * 1e-9,
        e_cached=e_in * CACHED_INPUT_FACTOR,
        e_call=0.0,
        host_call=0.0,
        batch=float(batch),
        cap_ctx=kv_cap / batch,
        kv_cap=kv_cap,
        step_j=step_j,
        read_j=read_j,
        log_idle_expert=log_idle_expert(r),
        flop_j=flop_j,
        gpu_count=gpu_count,
    )


def encoder_load(
    *,
    params_b: float,
    gpu: GpuSpec,
    gpu_count: int,
    batch: float,
    call_s: float,
    host_w: float,
) -> Load:
    """An encoder (one bidirectional forward pass, no decoding) at `batch` calls per pass.

    A pass has a fixed cost that does not shrink with the model: framework dispatch and
    kernel launches for `call_s` seconds, with the GPU at light load and the host busy;
    `batch` concurrent calls share it. Compute adds 2 x parameters FLOPs per token, at a
    batch-1 pass's low utilisation or, batched, at a prefill's.
    """
    pf = prefill_j_per_gflop(gpu, ENCODER_MFU if batch <= 1 else PREFILL_MFU)
    e_in = pf * 2.0 * params_b
    light_w = gpu.tdp_w * ENCODER_LIGHT_POWER_FRACTION * gpu_count
    return Load(
        e_out=0.0,
        e_kv=0.0,
        e_in=e_in,
        e_attn=pf * 4.0 * attention_width(params_b) * 1e-9,  # bidirectional: all pairs
        e_cached=e_in,
        e_call=call_s * light_w / batch,
        host_call=call_s * host_w / batch,
        batch=float(batch),
        cap_ctx=math.inf,
        kv_cap=math.inf,
        step_j=0.0,
        read_j=0.0,
        log_idle_expert=-math.inf,
        flop_j=0.0,
        gpu_count=gpu_count,
    )


def call_joules(loads: tuple[Load, ...], n_in: int, n_cached: int, n_out: int) -> list[float]:
    """GPU joules of one call under each of `loads`: prefill (linear + attention), cached
    tokens, decode with its context-length term, and the fixed per-call part. When this
    call's context would not fit `batch` sequences in the KV-cache room, the batch shrinks
    to what fits."""
    ctx = n_in + n_out * 0.5
    kv_tokens = n_out * ctx
    uncached = n_in - n_cached
    squares = n_in * n_in - n_cached * n_cached
    out = []
    append = out.append
    for (
        e_out,
        e_kv,
        e_in,
        e_attn,
        e_cached,
        e_call,
        cap_ctx,
        kv_cap,
        step_j,
        read_j,
        log_idle,
        flop_j,
        _,
        _,
        _,
    ) in loads:
        if ctx > cap_ctx and n_out:
            b = kv_cap / ctx
            b = b if b > 1.0 else 1.0
            e_out = (step_j + read_j * (1.0 - _exp(b * log_idle))) / b + flop_j
        append(
            n_out * e_out
            + kv_tokens * e_kv
            + uncached * e_in
            + e_attn * squares
            + n_cached * e_cached
            + e_call
        )
    return out


_exp = math.exp


class DecodeEnds(NamedTuple):
    """Both ends of an assumption that changes only the decode coefficients of a central
    `Load` (the concurrency, the KV-cache size), as differences from it. A call that no
    batch cap touches costs the central call plus `n_out · d_out + n_out · ctx · d_kv` at
    each end (ctx as in `call_joules`); the ends' own loads serve the calls a cap touches."""

    d_out_lo: float  # e_out(lo) - e_out(central), J per output token
    d_kv_lo: float  # e_kv(lo) - e_kv(central), J per output token per context token
    d_out_hi: float
    d_kv_hi: float
    cap_ctx: float  # the shortest context at which the central load or an end is capped


def decode_ends(central: Load, lo: Load, hi: Load) -> DecodeEnds:
    return DecodeEnds(
        lo.e_out - central.e_out,
        lo.e_kv - central.e_kv,
        hi.e_out - central.e_out,
        hi.e_kv - central.e_kv,
        min(central.cap_ctx, lo.cap_ctx, hi.cap_ctx),
    )


def gpu_joules(load: Load, n_in: int, n_cached: int, n_out: int) -> float:
    """GPU joules of one call under one `load` (see `call_joules`)."""
    return call_joules((load,), n_in, n_cached, n_out)[0]


class EcoScenario(NamedTuple):
    """EcoLogits 0.11.3 `compute_llm_impacts_dag` for one parameter corner, as coefficients."""

    e_out: float  # J per output token (all GPUs)
    t_tok: float  # s per output token
    ttft0: float  # s, catalog time to first token
    srv_w: float  # W of server power allocated to the request
    emb_gps: float  # g CO2e embodied per second
    pue: float
    wue_factor: float  # L per kWh of IT energy: WUE_onsite + PUE x WUE_offsite
    gpu_count: int


def eco_latency_per_token(active_b: float, batch: float) -> float:
    return ECO_LAT_ALPHA * active_b + ECO_LAT_BETA * batch + ECO_LAT_GAMMA


def ecologits_scenario(
    *,
    active_b: float,
    total_b: float,
    pue: float,
    wue_onsite: float,
    wue_offsite: float,
    tps: float | None,
    ttft_s: float | None,
) -> EcoScenario:
    b = ECO_BATCH
    g = gpus_needed(total_b, ECO_QUANT_BYTES, ECO_GPU_MEMORY_GB)
    per_gpu_wh = ECO_ALPHA * math.exp(ECO_BETA * b) * active_b + ECO_GAMMA
    emb = (g / ECO_SERVER_GPUS * ECO_SERVER_EMBODIED_KGCO2E + g * ECO_GPU_EMBODIED_KGCO2E) * 1e3
    return EcoScenario(
        e_out=g * per_gpu_wh * 3600.0,
        t_tok=1.0 / tps if tps else eco_latency_per_token(active_b, b),
        ttft0=ttft_s or 0.0,
        srv_w=ECO_SERVER_POWER_W * g / ECO_SERVER_GPUS / b,
        emb_gps=emb / (b * ECO_LIFETIME_S),
        pue=pue,
        wue_factor=wue_onsite + pue * wue_offsite,
        gpu_count=g,
    )
