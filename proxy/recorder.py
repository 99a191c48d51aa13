"""After the upstream answered: estimate, count, store.

`Recorder.measure` turns a finished try's usage into impacts and a `UsageEvent`
(microseconds, no I/O); `Recorder.record` hands each try's event to the metrics and to
the batch writer, which stores it off the request path; `Recorder.finish` counts the
client's request once, with the status the client got.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from estimators import Impacts, estimate, resolve_model
from proxy.events import UsageEvent
from proxy.logs import log_call
from proxy.metrics import Metrics
from proxy.store.writer import UsageWriter
from proxy.tasks import label_event
from proxy.tokens import count_texts
from proxy.usage import TokenUsage

if TYPE_CHECKING:
    from proxy.call import Call
    from proxy.telemetry import CallTracer


def local_usage(call: Call, output_texts: Iterable[str]) -> TokenUsage:
    """Token counts made here, for when the upstream reported none."""
    return TokenUsage(
        input_tokens=call.protocol.input_tokens(call.request or {}),
        output_tokens=count_texts(output_texts),
    )


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
        self,
        *,
        metrics: Metrics,
        writer: UsageWriter,
        grid: Any = None,
        budgets: Any = None,
        tracer: CallTracer | None = None,
    ) -> None:
        self.metrics = metrics
        self.tracer = tracer
        self.writer = writer
        self.budgets = budgets  # proxy.budgets.BudgetGuard or None
        self.conversations: Any = None  # proxy.display.conversation_totals.ConversationTotals
        self.recent = RecentEvents()
        self._grid = grid  # LiveGridIntensity or None

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
        response_id: str | None = None,
    ) -> tuple[UsageEvent, Impacts | None]:
        """The usage row of the current try, and its impacts when it has usage to meter."""
        dep = call.deployment
        kind = call.protocol.kind
        event = UsageEvent(
            event_id=f"{call.request_id}.{call.attempt}",
            request_id=call.request_id,
            created_at=call.received_at,
            team=call.caller.team,
            key_id=call.caller.key_id,
            endpoint=call.protocol.endpoint,
            status_code=status,
            requested_model=call.requested_model,
            served_model=served_model,
            provider=dep.provider,
            deployment=None if dep.name == "*" else dep.label,
            attempt=call.attempt,
            stream=call.stream,
            metered=kind is not None,
            ttft_s=ttft_s,
            error_type=error_type,
            conversation_id=call.conversation_id,
            response_id=response_id,
            end_user=call.end_user,
        )
        if usage is None or kind is None:
            if kind is not None and call.routed_model:  # keep metric labels consistent
                event.model_id = resolve_model(call.routed_model, dep.provider)
            return event, None
        model = served_model or call.routed_model or "unknown"
        zone = dep.overrides.zone if dep.overrides else None
        imp = estimate(
            model,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cached_input_tokens=usage.cached_input_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            latency_s=latency_s,
            ttft_s=ttft_s,
            kind=kind,
            provider=dep.provider,
            overrides=dep.overrides,
            grid_intensity=self._grid.get(zone) if self._grid is not None and zone else None,
        )
        _fill(event, imp, usage, usage_source)
        # Right-sizing: the call's task shape, from its request (read when the call was
        # admitted) and its token counts; no text is kept.
        label_event(event, call.request, call.task_shape)
        return event, imp

    def record(self, event: UsageEvent, *, duration_s: float) -> None:
        """Store one try's row and count what it used."""
        event.latency_s = duration_s
        self.metrics.observe_try(event)
        self.writer.submit(event)
        self.recent.put(event)
        if self.conversations is not None:
            self.conversations.add(event)
        if self.budgets is not None and event.energy_wh and self.budgets.has_budget(event.team):
            self.budgets.add(
                event.team, event.emissions_gco2e, event.energy_wh, event_id=event.event_id
            )

    def finish(
        self, event: UsageEvent, *, status: int, duration_s: float, overhead_s: float
    ) -> None:
        """Count the client's request once, with the status it got (after every try)."""
        self.metrics.observe_request(
            team=event.team,
            model=event.model_id or event.requested_model,
            provider=event.provider,
            endpoint=event.endpoint,
            status=status,
            duration_s=duration_s,
            overhead_s=overhead_s,
            ttft_s=event.ttft_s,
        )
        log_call(event)
        if self.tracer is not None:
            self.tracer.record(event, duration_s=duration_s)


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
