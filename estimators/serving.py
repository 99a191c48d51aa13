"""What a call's serving is assumed to be when the deployment does not say: concurrency,
host and idle shares, hardware life, encoder pass costs. Each assumption is a `Span`
(low, central, high); `estimate()` turns every span into its share of the result's range.
Sources and reasoning: docs/methodology.md §4.
"""

from __future__ import annotations

import math
from typing import NamedTuple


class Span(NamedTuple):
    """A plausible range of one assumption, with the central value used for `value`."""

    lo: float
    mid: float
    hi: float

    @classmethod
    def exact(cls, x: float) -> Span:
        return cls(x, x, x)

    def log_widths(self) -> tuple[float, float]:
        """(ln(mid/lo), ln(hi/mid)): the assumption's down- and up-half-widths as factors."""
        return math.log(self.mid / self.lo), math.log(self.hi / self.mid)

    def factor_widths(self, offset: float = 1.0) -> tuple[float, float]:
        """Log half-widths of the multiplier (offset + x), e.g. (1 + idle share)."""
        return (
            math.log((offset + self.mid) / (offset + self.lo)),
            math.log((offset + self.hi) / (offset + self.mid)),
        )


# Concurrent sequences a replica of G GPUs carries when the deployment does not declare
# `batch_size` (docs/methodology.md §3.3, §4). The streams a GPU carries at the per-stream
# speeds hosted APIs serve (40-110 tokens/s whatever the model's size, EcoLogits' deployment
# data) depend on the weights and KV cache each GPU reads, not on the model's total size, so
# a replica's concurrency grows with its GPUs (ML.ENERGY v3: 2 H100 instead of 1 lift GPT-OSS
# 120B from batch 64 to 2,048; DeepSeek's expert-parallel service: about 85 streams per H800).
# Low: 4 per GPU, a replica held back by its latency target or its demand (the node share per
# request of Jegham et al. implies 2-11). High: 16 per GPU, or for a small replica EcoLogits'
# 64, which one GPU holding a small model reaches easily (ML.ENERGY: Llama 3.1 8B on one H100
# up to batch 256). Central: their geometric mean (16 on one GPU, 8 per GPU from four GPUs).
STREAMS_LOW_PER_GPU = 4.0
STREAMS_HIGH_PER_GPU = 16.0
REPLICA_HIGH = 64.0


def concurrency(gpus: int) -> Span:
    """(low, central, high) concurrent sequences of a replica of `gpus` GPUs."""
    lo = STREAMS_LOW_PER_GPU * gpus
    hi = max(STREAMS_HIGH_PER_GPU * gpus, REPLICA_HIGH)
    return Span(lo, math.sqrt(lo * hi), hi)


# Hidden reasoning tokens per visible output token, for a model that always reasons and hides
# its reasoning (`ModelProfile.hidden_reasoning`) when the usage reports none: the count then
# holds the answer only (as when it is counted from the visible text). OpenAI's reasoning guide:
# from a few hundred to tens of thousands of reasoning tokens per request; ML.ENERGY v3: the
# same model (Qwen 3 32B) writes 11x the output tokens with reasoning on (7,035 against 627).
# From as many reasoning tokens as answer tokens to ten times as many; geometric centre.
HIDDEN_REASONING_PER_OUTPUT = Span(1.0, 3.2, 10.0)
# KV cache per context token, as a multiple of the Llama-3 fit (GQA with 8 KV heads), for a
# model whose attention design is not published. Published designs span about a third of it
# (DeepSeek-V3's multi-head latent attention, 70 KB per token against the fit's 236 KB;
# GPT-OSS's alternating 128-token sliding windows) to twice it (fewer layers sharing a KV head).
KV_CACHE_SCALE = Span(0.3, 1.0, 2.0)
# Host (CPU, DRAM, NICs, fans) share of the active IT energy: EcoLogits' 1.2 kW per 8 GPUs at a
# typical 0.6 kW GPU draw (0.2); Google's Gemini serving, 25 % host of a total that is 83 %
# active (0.30); an 8 x H100 node at training peak, 8.4 kW measured with <= 5.6 kW of GPUs (0.33).
HOST_SHARE = Span(0.15, 0.22, 0.33)
# Provisioned capacity standing idle, as a share of active IT energy: Google measured 10 % of
# its comprehensive total (12 % of active IT); lower for a saturated cluster, higher for a
# lightly used one.
IDLE_SHARE = Span(0.05, 0.12, 0.25)
# Model error of the decode/prefill physics, as a factor either way, on the reference GPU
# (H100) and on others (datasheet scaling: ML.ENERGY v3 found B200 -53 % to +82 % against
# H100 across configurations). With a declared batch the serving stack and precision are
# what remains unknown (ML.ENERGY v3: FP8 against BF16 at -29 % to +56 % at equal GPUs and
# batch); with an assumed batch, the concurrency range already spans them.
MODEL_ERROR_REFERENCE_GPU = (1.15, 1.3)  # (batch assumed, batch declared)
MODEL_ERROR_OTHER_GPU = (1.45, 1.6)
MODEL_ERROR_ENCODER = 1.5
MODEL_ERROR_MEASURED = 1.1

# Encoders: one forward pass has a fixed cost (framework dispatch, kernel launches,
# tokenisation) with the host busy meanwhile. A batch-1 pipeline pays a few to tens of
# milliseconds per call (Luccioni et al. 2024 measured 0.002 Wh per text classification:
# about 25-35 ms of a server); a batching server pays less per pass and shares it: a BERT-base
# pass of 8 short sequences takes 6 ms in eager PyTorch (Hugging Face Transformers benchmark
# example, TITAN RTX), less with compiled runtimes (MLPerf Inference BERT, server scenario).
ENCODER_CALL_S = Span(0.008, 0.015, 0.03)  # batch 1: per call
ENCODER_BATCHED_PASS_S = Span(0.002, 0.006, 0.015)  # batched: per pass
ENCODER_HOST_W = Span(150.0, 200.0, 300.0)  # one GPU's share of a server's CPU and DRAM
ENCODER_BATCH = Span(8.0, 32.0, 128.0)  # calls per pass at a hosted embedding service

# Embodied emissions, allocated by the GPU time a call occupies (its GPU energy / average
# GPU power) over the hardware's service life and the share of it spent serving.
AVG_GPU_POWER_FRACTION = 0.7  # of TDP while serving (ML.ENERGY: 486-691 W on a 700 W H100)
# 8-GPU server without GPUs: 5,700 kgCO2e (EcoLogits docs, from BoaviztAPI for an AWS
# p5.48xlarge; that query was not re-run here).
SERVER_EMBODIED_KGCO2E_PER_GPU = 5700.0 / 8
LIFETIME_YEARS = Span(3.0, 4.0, 5.0)
SERVICE_SHARE = Span(0.3, 0.5, 0.8)  # share of the service life the hardware is busy


def embodied_widths() -> tuple[float, float]:
    """(down, up) log half-widths of embodied per GPU-second: lifetime and service share."""
    ld, lu = LIFETIME_YEARS.log_widths()
    sd, su = SERVICE_SHARE.log_widths()
    return math.hypot(lu, su), math.hypot(ld, sd)  # more years or more service: less per s
