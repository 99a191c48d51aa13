"""Estimating a candidate model class on recorded calls, like for like.

A candidate is estimated with `estimators.estimate` on the same tokens as the recorded
calls and under the same site conditions: the same provider (PUE and WUE defaults), the
deployment's own PUE, WUE and market factor where the config declares them, the same
grid zone, and the grid intensity the recorded rows applied (live or static). Only the
model, and the candidate's own hardware assumptions, change.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

from estimators import Impacts, Overrides, estimate
from proxy.rightsizing.config import Candidate

KINDS = {"chat.completions": "chat", "completions": "completion", "embeddings": "embedding",
         "responses": "responses", "messages": "messages"}


@dataclass(frozen=True, slots=True)
class Site:
    """Where recorded calls ran, as far as their energy and emissions depend on it."""

    provider: str | None
    zone: str | None
    grid_gco2e_per_kwh: float | None  # the intensity the recorded rows applied
    deployment: Overrides | None = None  # the deployment's declared facts (PUE, WUE, ...)


@dataclass(frozen=True, slots=True)
class Tokens:
    endpoint: str
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int
    reasoning_tokens: int


def estimate_candidate(candidate: Candidate, site: Site, tokens: Tokens) -> Impacts:
    """One call's impacts on `candidate`: same tokens, same site.

    An `encoder` candidate (a fine-tuned classifier) reads the input once and generates
    nothing, so it is estimated as an embedding-style forward pass over the input tokens.
    Reasoning tokens are kept as they were recorded, which overstates a candidate that
    would not reason and so understates the saving.
    """
    return estimate(
        candidate.model,
        input_tokens=tokens.input_tokens,
        output_tokens=tokens.output_tokens,
        cached_input_tokens=tokens.cached_input_tokens,
        reasoning_tokens=tokens.reasoning_tokens,
        kind="embedding" if candidate.encoder else KINDS.get(tokens.endpoint, "chat"),
        provider=site.provider,
        zone=site.zone,
        overrides=_overrides(candidate.overrides, site.deployment),
        grid_intensity=site.grid_gco2e_per_kwh,
    )


@lru_cache(maxsize=256)
def _overrides(own: Overrides | None, deployment: Overrides | None) -> Overrides | None:
    """The candidate's own assumptions with the deployment's site facts laid over them."""
    if deployment is None or (deployment.pue is None and deployment.wue_onsite is None
                              and deployment.market_gco2e_per_kwh is None):
        return own
    base = own or Overrides()
    return replace(
        base,
        pue=_first(deployment.pue, base.pue),
        wue_onsite=_first(deployment.wue_onsite, base.wue_onsite),
        market_gco2e_per_kwh=_first(deployment.market_gco2e_per_kwh, base.market_gco2e_per_kwh),
    )


def _first(value: float | None, fallback: float | None) -> float | None:
    return value if value is not None else fallback
