"""The usage event: one metered (or unmetered) call, as stored in `usage_events`.

The request path builds one `UsageEvent` per upstream attempt and hands it to the
recorder; storage, metrics and reports read the same fields. Token counts follow the
OpenAI convention: `cached_input_tokens` is part of `input_tokens` and
`reasoning_tokens` is part of `output_tokens`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any


@dataclass(slots=True)
class UsageEvent:
    event_id: str  # unique per row (a retried request has one row per attempt)
    request_id: str  # the x-request-id the client saw
    created_at: datetime  # UTC, when the request arrived
    team: str
    endpoint: str  # chat.completions, completions, embeddings, responses, messages, passthrough
    status_code: int
    key_id: str | None = None
    requested_model: str | None = None
    served_model: str | None = None  # the `model` the upstream answered with
    model_id: str | None = None  # catalog id the estimate used, e.g. "openai/gpt-4o"
    provider: str | None = None
    deployment: str | None = None
    attempt: int = 0  # 0 for the first upstream attempt, 1.. for retries and fallbacks
    stream: bool = False
    metered: bool = True
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    usage_source: str = "none"  # upstream | estimated | none
    latency_s: float = 0.0
    ttft_s: float | None = None
    energy_wh: float = 0.0
    energy_wh_min: float = 0.0
    energy_wh_max: float = 0.0
    emissions_gco2e: float = 0.0
    emissions_gco2e_min: float = 0.0
    emissions_gco2e_max: float = 0.0
    emissions_operational_gco2e: float = 0.0
    emissions_embodied_gco2e: float = 0.0
    emissions_market_gco2e: float | None = None
    water_ml: float = 0.0
    water_ml_min: float = 0.0
    water_ml_max: float = 0.0
    water_onsite_ml: float | None = None  # cooling water at the data centre (part of water_ml)
    water_offsite_ml: float | None = None  # water of electricity generation (the rest)
    grid_zone: str | None = None
    grid_gco2e_per_kwh: float | None = None
    method: str | None = None
    market_source: str | None = None  # where emissions_market_gco2e's factor came from
    factors: str | None = None  # every coefficient the estimate applied (estimators.factors)
    quality: str | None = None
    error_type: str | None = None
    warnings: list[str] = field(default_factory=list)
    # Who and which conversation (proxy.display.conversations): the conversation id the call
    # belongs to, the upstream's id of its answer (chatcmpl-..., resp_..., msg_...) so a
    # later `previous_response_id` finds the conversation, and the end user as stored
    # (hashed by default).
    conversation_id: str | None = None
    response_id: str | None = None
    end_user: str | None = None
    task: str | None = None  # task shape (proxy.tasks.TASKS), never the text
    task_confidence: float | None = None  # 0..1
    task_signals: str | None = None  # comma-joined signal codes, e.g. "rf:enum,out:tiny"

    def to_row(self) -> dict[str, Any]:
        """Column values for `usage_events` (warnings joined, everything else as is)."""
        row = {name: getattr(self, name) for name in _FIELD_NAMES}
        row["warnings"] = ",".join(self.warnings) if self.warnings else None
        return row


_FIELD_NAMES = tuple(f.name for f in fields(UsageEvent))
