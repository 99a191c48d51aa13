"""Per-token energy coefficients of one deployment scenario (Wattgate method and the
EcoLogits 0.11.3 formulas for compatibility mode). Pure arithmetic, no I/O.

A *scenario* is the tuple of per-token/per-second coefficients for one corner of the
uncertainty box (min, central or max parameters, PUE, WUE). `estimate()` evaluates three
scenarios per call (the token/time part once when their parameter counts are equal);
building them is cached per deployment.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from estimators.hardware import REFERENCE_GPU, GpuSpec

# -- Wattgate decode model, fitted on ML.ENERGY v3 (vLLM, H100 SXM, GPU energy only) -------------
# Energy of one decode step on one GPU = STEP_J + MEM_J_PER_GB x (GB read) + J_PER_GFLOP x GFLOP.
# Least-squares fit (relative error) on the 8 published points (Llama-3.1-8B on 1 GPU and
# 70B on 4 GPUs, batch 8/32/64/256), with the reference request below; see docs/methodology.md.
STEP_J = 0.4770  # fixed cost per GPU per decode step (kernel launches, sync, idle lanes)
MEM_J_PER_GB = 0.1760  # HBM read energy incl. the power the GPU draws while memory-bound
DECODE_J_PER_GFLOP = 1.228e-3  # decode compute (matmuls on active parameters)
BYTES_PER_PARAM = 2.0  # BF16/FP16 weights (EcoLogits 0.9+: 16 bits)
# KV cache bytes per token of context, Llama-3 family (GQA, 8 KV heads, BF16):
# 8B 131 KB, 70B 328 KB, 405B 516 KB  ~  62 KB x P_active^0.37.
KV_KB_COEF = 62.0
KV_EXP = 0.37
CALIBRATION_REQUEST = (500, 500)  # (input, output) tokens assumed for the ML.ENERGY workload

# -- prefill (compute-bound) ------------------------------------------------------------------
PREFILL_POWER_FRACTION = 0.85  # of TDP while compute-bound (ML.ENERGY observes 0.7-0.99 x TDP)
PREFILL_MFU = 0.45  # model FLOPs utilisation of a batched prefill
CACHED_INPUT_FACTOR = 0.10  # a prompt-cache hit costs ~10% of recomputing the token

# -- server, embodied (EcoLogits 0.11.3) --------------------------------------------------------
SERVER_POWER_W = 1200.0  # AWS p5.48xlarge without GPUs (BoaviztAPI via EcoLogits)
SERVER_GPUS = 8
SERVER_EMBODIED_KGCO2E = 5700.0  # p5.48xlarge without GPUs (BoaviztAPI via EcoLogits 0.11.3)
LIFETIME_S = 3 * 365 * 24 * 3600  # 3-year hardware lifetime (EcoLogits 0.9+)
MEMORY_OVERHEAD = 1.2  # weights x 1.2 must fit in GPU memory (EcoLogits)
DEFAULT_BATCH = 64  # EcoLogits default concurrent requests per server

# -- EcoLogits 0.11.3 regressions (ecologits/impacts/llm.py) -----------------------------------
ECO_ALPHA = 1.1665273170451914e-06
ECO_BETA = -0.011205921025579175
ECO_GAMMA = 4.052928146734005e-05
ECO_LAT_ALPHA = 0.0006785088094353663
ECO_LAT_BETA = 0.0003119310311688259
ECO_LAT_GAMMA = 0.019473717579473387
ECO_GPU_MEMORY_GB = 80.0
ECO_GPU_EMBODIED_KGCO2E = 273.0


class Scenario(NamedTuple):
    e_out: float  # J per output token (GPU), excluding the context-length term
    e_kv: float  # J per output token per token of context (KV-cache reads)
    e_in: float  # J per uncached input token (prefill)
    e_cached: float  # J per cached input token
    t_tok: float  # s per output token (stream speed)
    t_pf: float  # s per uncached input token (prefill time)
    ttft0: float  # s, base time to first token (catalog), used when TTFT is not measured
    srv_w: float  # W of non-GPU server power allocated to this request
    emb_gps: float  # g CO2e of embodied hardware per second of request occupancy
    band: float  # model-error multiplier on IT energy (1 for the central scenario)
    pue: float
    wue_factor: float  # L per kWh of IT energy: WUE_onsite + PUE x WUE_offsite
    measured_out: float  # J per output token of measured IT energy (0 = modelled)
    measured_in: float  # J per input token of measured IT energy
    gpu_count: int


def gpus_needed(total_b: float, memory_gb: float) -> int:
    """EcoLogits rule: weights x 1.2 in BF16, rounded up to a power of two of GPUs."""
    n = math.ceil(MEMORY_OVERHEAD * total_b * BYTES_PER_PARAM / memory_gb)
    return 1 if n <= 1 else 2 ** math.ceil(math.log2(n))


def kv_gb_per_token(active_b: float) -> float:
    return KV_KB_COEF * active_b**KV_EXP * 1e-6


def eco_latency_per_token(active_b: float, batch: float) -> float:
    return ECO_LAT_ALPHA * active_b + ECO_LAT_BETA * batch + ECO_LAT_GAMMA


def wattgate_scenario(
    *,
    active_b: float,
    total_b: float,
    gpu: GpuSpec,
    gpu_count: int | None,
    batch: int,
    pue: float,
    wue_onsite: float,
    wue_offsite: float,
    band: float,
    tps: float | None,
    ttft_s: float | None,
    measured_out_wh: float | None = None,
    measured_in_wh: float | None = None,
) -> Scenario:
    ref = REFERENCE_GPU
    g = gpu_count or gpus_needed(total_b, gpu.memory_gb)
    mem_j = MEM_J_PER_GB * (gpu.tdp_w / gpu.bandwidth_tbs) / (ref.tdp_w / ref.bandwidth_tbs)
    flop_j = DECODE_J_PER_GFLOP * (gpu.tdp_w / gpu.bf16_tflops) / (ref.tdp_w / ref.bf16_tflops)
    step_j = STEP_J * gpu.tdp_w / ref.tdp_w
    # Weights read per decode step: all of a dense model; for MoE the experts touched by
    # `batch` tokens, 1 - (1 - r)^B of the total with r = active/total.
    r = min(1.0, active_b / total_b)
    read_b = total_b * (1.0 - (1.0 - r) ** batch) if r < 1.0 else total_b
    e_out = (g * step_j + mem_j * BYTES_PER_PARAM * read_b) / batch + flop_j * 2.0 * active_b
    e_kv = mem_j * kv_gb_per_token(active_b)
    pf_j_per_gflop = gpu.tdp_w * PREFILL_POWER_FRACTION / (gpu.bf16_tflops * 1e3 * PREFILL_MFU)
    e_in = pf_j_per_gflop * 2.0 * active_b
    t_tok = 1.0 / tps if tps else eco_latency_per_token(active_b, batch)
    t_pf = 2.0 * active_b / (g * gpu.bf16_tflops * 1e3 * PREFILL_MFU)
    srv_w = SERVER_POWER_W * g / SERVER_GPUS / batch
    emb = (g / SERVER_GPUS * SERVER_EMBODIED_KGCO2E + g * gpu.embodied_kgco2e) * 1000.0
    return Scenario(
        e_out=e_out,
        e_kv=e_kv,
        e_in=e_in,
        e_cached=e_in * CACHED_INPUT_FACTOR,
        t_tok=t_tok,
        t_pf=t_pf,
        ttft0=ttft_s or 0.0,
        srv_w=srv_w,
        emb_gps=emb / (batch * LIFETIME_S),
        band=band,
        pue=pue,
        wue_factor=wue_onsite + pue * wue_offsite,
        measured_out=(measured_out_wh or 0.0) * 3600.0,
        measured_in=(measured_in_wh or 0.0) * 3600.0,
        gpu_count=g,
    )


def ecologits_scenario(
    *,
    active_b: float,
    total_b: float,
    pue: float,
    wue_onsite: float,
    wue_offsite: float,
    tps: float | None,
    ttft_s: float | None,
) -> Scenario:
    """EcoLogits 0.11.3 `compute_llm_impacts_dag` for one parameter corner, as coefficients."""
    b = DEFAULT_BATCH
    g = gpus_needed(total_b, ECO_GPU_MEMORY_GB)
    per_gpu_wh = ECO_ALPHA * math.exp(ECO_BETA * b) * active_b + ECO_GAMMA
    emb = (g / SERVER_GPUS * SERVER_EMBODIED_KGCO2E + g * ECO_GPU_EMBODIED_KGCO2E) * 1000.0
    return Scenario(
        e_out=g * per_gpu_wh * 3600.0,
        e_kv=0.0,
        e_in=0.0,
        e_cached=0.0,
        t_tok=1.0 / tps if tps else eco_latency_per_token(active_b, b),
        t_pf=0.0,
        ttft0=ttft_s or 0.0,
        srv_w=SERVER_POWER_W * g / SERVER_GPUS / b,
        emb_gps=emb / (b * LIFETIME_S),
        band=1.0,
        pue=pue,
        wue_factor=wue_onsite + pue * wue_offsite,
        measured_out=0.0,
        measured_in=0.0,
        gpu_count=g,
    )
