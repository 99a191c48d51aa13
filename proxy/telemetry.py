"""OpenTelemetry: one span per proxied call, exported over OTLP. Off unless configured.

Set `WATTGATE_OTEL_ENDPOINT` (an OTLP/HTTP collector, e.g. `http://otel-collector:4318`)
and install the `otel` extra. Each client request becomes one `CLIENT` span named
`{gen_ai.operation.name} {gen_ai.request.model}`, with the OpenTelemetry GenAI semantic
convention attributes (`gen_ai.operation.name`, `gen_ai.provider.name` and its older name
`gen_ai.system`, `gen_ai.request.model`, `gen_ai.response.model`,
`gen_ai.usage.input_tokens`, `gen_ai.usage.output_tokens`, ...) and the call's impacts
under `wattgate.*` (energy in Wh, emissions in gCO2e, water in mL, each with its range).
No prompt or completion text is ever put on a span. The standard `OTEL_EXPORTER_OTLP_*`
variables (headers, timeout, compression) apply to the exporter as usual.

Spans are built after the call, from its usage row, and handed to a batch processor
that exports them from its own thread: the request path only pays for building one span.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from proxy.events import UsageEvent

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

_OPERATIONS = {
    "chat.completions": "chat",
    "responses": "chat",
    "messages": "chat",
    "completions": "text_completion",
    "embeddings": "embeddings",
}
# gen_ai.provider.name well-known values, for Wattgate's provider names.
_PROVIDERS = {
    "azure": "azure.ai.openai",
    "bedrock": "aws.bedrock",
    "gemini": "gcp.gemini",
    "google": "gcp.gemini",
    "vertex": "gcp.vertex_ai",
    "vertex_ai": "gcp.vertex_ai",
    "mistral": "mistral_ai",
}


class CallTracer:
    """Turns finished calls into spans on its own tracer provider."""

    def __init__(self, provider: TracerProvider) -> None:
        from opentelemetry.trace import SpanKind, Status, StatusCode

        self._provider = provider
        self._tracer = provider.get_tracer("wattgate")
        self._kind = SpanKind.CLIENT
        self._error = Status(StatusCode.ERROR)

    @classmethod
    def exporting_to(cls, exporter: SpanExporter, *, batch: bool = True) -> CallTracer:
        """A tracer whose spans go to `exporter` (batched in a thread, or one by one)."""
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

        from proxy import __version__

        provider = TracerProvider(
            resource=Resource.create({"service.name": "wattgate", "service.version": __version__})
        )
        processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
        provider.add_span_processor(processor)
        return cls(provider)

    @classmethod
    def otlp(cls, endpoint: str) -> CallTracer:
        """Spans exported over OTLP/HTTP to `endpoint` (the collector's base URL)."""
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return cls.exporting_to(OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces"))

    def record(self, event: UsageEvent, *, duration_s: float) -> None:
        """One span for a finished call, ending now and lasting `duration_s`."""
        end = time.time_ns()
        operation = _OPERATIONS.get(event.endpoint, event.endpoint)
        model = event.requested_model or event.model_id or "unknown"
        span = self._tracer.start_span(
            f"{operation} {model}",
            kind=self._kind,
            start_time=end - int(duration_s * 1e9),
            attributes=span_attributes(event, operation),
        )
        if event.status_code >= 400:
            span.set_status(self._error)
        span.end(end_time=end)

    def close(self) -> None:
        """Export what is buffered and stop."""
        self._provider.shutdown()


def span_attributes(event: UsageEvent, operation: str) -> dict[str, Any]:
    """A call's span attributes: GenAI conventions, HTTP status, and the impacts."""
    provider = _PROVIDERS.get(event.provider or "", event.provider or "unknown")
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": provider,
        "gen_ai.system": provider,
        "gen_ai.request.model": event.requested_model or "",
        "gen_ai.request.stream": event.stream,
        "http.response.status_code": event.status_code,
        "wattgate.request_id": event.request_id,
        "wattgate.team": event.team,
        "wattgate.attempts": event.attempt + 1,
    }
    optional = {
        "gen_ai.response.model": event.served_model,
        "error.type": event.error_type or (str(event.status_code) if event.status_code >= 400
                                           else None),
        "wattgate.deployment": event.deployment,
        "wattgate.model_id": event.model_id,
        "gen_ai.response.time_to_first_chunk": event.ttft_s,
    }
    attributes.update({k: v for k, v in optional.items() if v is not None})
    if event.usage_source == "none":
        return attributes
    attributes.update({
        "gen_ai.usage.input_tokens": event.input_tokens,
        "gen_ai.usage.output_tokens": event.output_tokens,
        "gen_ai.usage.cache_read.input_tokens": event.cached_input_tokens,
        "gen_ai.usage.reasoning.output_tokens": event.reasoning_tokens,
        "wattgate.usage_source": event.usage_source,
        "wattgate.energy_wh": event.energy_wh,
        "wattgate.energy_wh.min": event.energy_wh_min,
        "wattgate.energy_wh.max": event.energy_wh_max,
        "wattgate.emissions_gco2e": event.emissions_gco2e,
        "wattgate.emissions_gco2e.min": event.emissions_gco2e_min,
        "wattgate.emissions_gco2e.max": event.emissions_gco2e_max,
        "wattgate.water_ml": event.water_ml,
        "wattgate.grid.zone": event.grid_zone or "",
        "wattgate.impact_method": event.method or "",
    })
    return attributes
