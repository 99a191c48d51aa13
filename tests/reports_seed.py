"""Synthetic usage rows for report tests and benchmarks (estimates from `estimators`)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from estimators import estimate
from proxy.events import UsageEvent

MODELS = ("gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "llama-3.1-70b")
TEAMS = ("search", "support", "research")


def make_row(*, team: str, model: str, created_at: datetime, input_tokens: int,
             output_tokens: int, key_id: str | None = None, provider: str = "openai",
             usage_source: str = "upstream", market: bool = False) -> dict[str, Any]:
    imp = estimate(model, input_tokens=input_tokens, output_tokens=output_tokens,
                   provider=provider)
    return UsageEvent(
        event_id=uuid.uuid4().hex, request_id=uuid.uuid4().hex, created_at=created_at,
        team=team, endpoint="chat.completions", status_code=200, key_id=key_id or f"k-{team}",
        requested_model=model, served_model=model, model_id=imp.model_id, provider=provider,
        input_tokens=input_tokens, output_tokens=output_tokens,
        cached_input_tokens=input_tokens // 4, reasoning_tokens=0, usage_source=usage_source,
        latency_s=0.5, energy_wh=imp.energy_wh.value, energy_wh_min=imp.energy_wh.min,
        energy_wh_max=imp.energy_wh.max, emissions_gco2e=imp.emissions_gco2e.value,
        emissions_gco2e_min=imp.emissions_gco2e.min, emissions_gco2e_max=imp.emissions_gco2e.max,
        emissions_operational_gco2e=imp.emissions_operational_gco2e,
        emissions_embodied_gco2e=imp.emissions_embodied_gco2e,
        emissions_market_gco2e=imp.emissions_gco2e.value * 0.1 if market else None,
        water_ml=imp.water_ml.value, water_ml_min=imp.water_ml.min, water_ml_max=imp.water_ml.max,
        grid_zone=imp.grid_zone, grid_gco2e_per_kwh=imp.grid_gco2e_per_kwh, method=imp.method,
        quality=imp.quality,
    ).to_row()


def random_rows(n: int, *, start: datetime, days: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        at = start + timedelta(seconds=rng.uniform(0, days * 86400))
        rows.append(make_row(
            team=rng.choice(TEAMS), model=rng.choice(MODELS), created_at=at,
            input_tokens=rng.randint(1, 4000), output_tokens=rng.randint(1, 1000),
            usage_source=rng.choice(("upstream", "upstream", "estimated")),
            market=rng.random() < 0.5,
        ))
    return rows


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]
