"""After the upstream answered: estimate, count, store.

`Recorder.measure` turns a finished call's usage into impacts and a `UsageEvent`
(microseconds, no I/O); `Recorder.record` hands the event to the metrics and to the
batch writer, which stores it off the request path.
"""

from __future__ import annotations

import itertools
import os
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from estimators import Impacts, estimate, resolve_model
from proxy.auth import Caller
from proxy.config import Deployment
from proxy.events import UsageEvent
from proxy.metrics import Metrics
from proxy.store.writer import UsageWriter
from proxy.tokens import count_request_input, count_texts
from proxy.usage import TokenUsage

_KINDS = {
    "chat.completions": "chat",
    "completions": "completion",
    "embeddings": "embedding",
    "responses": "responses",
    "messages": "messages",
}
METERED_ENDPOINTS = frozenset(_KINDS)


# Request ids: a random per-process prefix plus a counter. Unique across processes and
# restarts without a system call per request (ids are lookup handles, not secrets: a
# team only ever sees its own calls).
_ID_PREFIX = "req_" + os.urandom(8).hex()
_ID_COUNTER = itertools.count()


def new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_ID_COUNTER):08x}"


@dataclass(slots=True)
class Call:
    """What the gateway knows about one call while it is in flight."""

    request_id: str
    received_at: datetime
    t0: float  # perf_counter() at arrival
    caller: Caller
    endpoint: str
    deployment: Deployment
    requested_model: str | None = None
    stream: bool = False
    request_json: dict[str, Any] | None = None
    attempt: int = 0
    upstream_wait_s: float = 0.0  # time spent waiting on the upstream, for overhead
    extra: dict[str, Any] = field(default_factory=dict)


class RecentEvents:
    """The last few thousand events, so `/v1/impacts/{id}` answers before the row is written."""

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        self._events: OrderedDict[str, UsageEvent] = OrderedDict()

    def put(self, event: UsageEvent) -> None:
        self._events[event.request_id] = event
        if len(self._events) > self._size:
            self._events.popitem(last=False)

    def get(self, request_id: str) -> UsageEvent | None:
        return self._events.get(request_id)


class Recorder:
    def __init__(
        self, *, metrics: Metrics, writer: UsageWriter, grid: Any = None, budgets: Any = None
    ) -> None:
        self.metrics = metrics
        self.writer = writer
        self.budgets = budgets  # proxy.budgets.BudgetGuard or None
        self.recent = RecentEvents()
        self._grid = grid  # LiveGridIntensity or None

    @staticmethod
    def local_usage(call: Call, output_texts: Iterable[str]) -> TokenUsage:
        """Token counts made here, for when the upstream reported none."""
        request = call.request_json or {}
        return TokenUsage(
            input_tokens=count_request_input(call.endpoint, request),
            output_tokens=count_texts(output_texts),
        )

    def measure(
        self,
        call: Call,
        *,
        status: int,
        usage: TokenUsage | None,
        usage_source: str,
        served_model: str | None = None,
        latency_s: float | None = None,
        ttft_s: float | None = None,
        error_type: str | None = None,
    ) -> tuple[UsageEvent, Impacts | None]:
        dep = call.deployment
        event = UsageEvent(
            event_id=f"{call.request_id}.{call.attempt}",
            request_id=call.request_id,
            created_at=call.received_at,
            team=call.caller.team,
            key_id=call.caller.key_id,
            endpoint=call.endpoint,
            status_code=status,
            requested_model=call.requested_model,
            served_model=served_model,
            provider=dep.provider,
            deployment=None if dep.name == "*" else dep.label,
            attempt=call.attempt,
            stream=call.stream,
            metered=call.endpoint in METERED_ENDPOINTS,
            ttft_s=ttft_s,
            error_type=error_type,
        )
        if usage is None or not event.metered:
            if event.metered and call.requested_model:  # keep metric labels consistent
                event.model_id = resolve_model(call.requested_model, dep.provider)
            return event, None
        model = served_model or call.requested_model or "unknown"
        zone = dep.overrides.zone if dep.overrides else None
        imp = estimate(
            model,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cached_input_tokens=usage.cached_input_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            latency_s=latency_s,
            ttft_s=ttft_s,
            kind=_KINDS[call.endpoint],
            provider=dep.provider,
            overrides=dep.overrides,
            grid_intensity=self._grid.get(zone) if self._grid is not None and zone else None,
        )
        _fill(event, imp, usage, usage_source)
        return event, imp

    def record(self, event: UsageEvent, *, duration_s: float, overhead_s: float) -> None:
        event.latency_s = duration_s
        self.metrics.observe(event, duration_s=duration_s, overhead_s=overhead_s)
        self.writer.submit(event)
        self.recent.put(event)
        if self.budgets is not None and event.energy_wh and self.budgets.has_budget(event.team):
            self.budgets.add(
                event.team, event.emissions_gco2e, event.energy_wh, event_id=event.event_id
            )


def _fill(event: UsageEvent, imp: Impacts, usage: TokenUsage, usage_source: str) -> None:
    event.model_id = imp.model_id
    event.input_tokens = usage.input_tokens
    event.cached_input_tokens = usage.cached_input_tokens
    event.output_tokens = usage.output_tokens
    event.reasoning_tokens = usage.reasoning_tokens
    event.usage_source = usage_source
    event.energy_wh, event.energy_wh_min, event.energy_wh_max = (
        imp.energy_wh.value,
        imp.energy_wh.min,
        imp.energy_wh.max,
    )
    g = imp.emissions_gco2e
    event.emissions_gco2e, event.emissions_gco2e_min, event.emissions_gco2e_max = (
        g.value,
        g.min,
        g.max,
    )
    event.emissions_operational_gco2e = imp.emissions_operational_gco2e
    event.emissions_embodied_gco2e = imp.emissions_embodied_gco2e
    event.emissions_market_gco2e = imp.emissions_market_gco2e
    event.water_ml, event.water_ml_min, event.water_ml_max = (
        imp.water_ml.value,
        imp.water_ml.min,
        imp.water_ml.max,
    )
    event.water_onsite_ml, event.water_offsite_ml = imp.water_onsite_ml, imp.water_offsite_ml
    event.market_source = imp.market_source
    event.factors = imp.assumptions.factors
    event.grid_zone = imp.grid_zone
    event.grid_gco2e_per_kwh = imp.grid_gco2e_per_kwh
    event.method = imp.method
    event.quality = imp.quality
    event.warnings = list(imp.warnings)
