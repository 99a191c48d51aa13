"""Prometheus instruments, on an explicit registry so tests and apps never share state.

Names follow Prometheus conventions (base units: joules, grams, litres, seconds).
Labels stay bounded: teams are created by an operator, models are catalog ids or
configured names (anything else is counted as "other"), never request ids or raw
strings from callers.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from proxy.events import UsageEvent

CONTENT_TYPE = CONTENT_TYPE_LATEST
MAX_LABEL_VALUES = 200  # distinct values per label before new ones become "other"

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_OVERHEAD_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    1,
)


class _BoundedLabel:
    """Maps caller-influenced values onto at most `limit` distinct label values."""

    def __init__(self, limit: int = MAX_LABEL_VALUES) -> None:
        self._seen: set[str] = set()
        self._limit = limit

    def __call__(self, value: str | None) -> str:
        if not value:
            return "none"
        if value in self._seen:
            return value
        if len(self._seen) >= self._limit:
            return "other"
        self._seen.add(value)
        return value


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        base = ("team", "model", "provider")
        self.requests = Counter(
            "wattgate_requests",
            "Client requests answered, by the status the client got (after retries and "
            "fallbacks).",
            (*base, "endpoint", "status"),
            registry=r,
        )
        self.attempts = Counter(
            "wattgate_upstream_attempts",
            "Upstream tries of metered calls, by deployment and outcome (a request with "
            "retries or fallbacks makes several).",
            ("deployment", "provider", "status"),
            registry=r,
        )
        self.energy = Counter(
            "wattgate_energy_joules",
            "Estimated energy at the data-centre meter (central).",
            base,
            registry=r,
        )
        self.emissions = Counter(
            "wattgate_emissions_co2e_grams",
            "Estimated location-based emissions, operational plus embodied (central).",
            base,
            registry=r,
        )
        self.water = Counter(
            "wattgate_water_litres", "Estimated water consumption (central).", base, registry=r
        )
        self.tokens = Counter("wattgate_tokens", "Tokens processed.", (*base, "type"), registry=r)
        self.duration = Histogram(
            "wattgate_request_duration_seconds",
            "Time from request to the last byte sent.",
            ("endpoint",),
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "wattgate_time_to_first_token_seconds",
            "Time to the first streamed event.",
            ("endpoint",),
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.overhead = Histogram(
            "wattgate_overhead_duration_seconds",
            "Time the gateway itself spent on a request (total minus waiting for upstream).",
            ("endpoint",),
            buckets=_OVERHEAD_BUCKETS,
            registry=r,
        )
        self.estimated_usage = Counter(
            "wattgate_estimated_usage",
            "Calls whose tokens were counted locally.",
            ("endpoint",),
            registry=r,
        )
        self.team_label = _BoundedLabel()
        self.model_label = _BoundedLabel()
        self._children: dict[tuple[str, ...], tuple] = {}
        self._request_children: dict[tuple[str, ...], tuple] = {}

    def gauge(self, name: str, doc: str, read: Callable[[], float]) -> None:
        """A gauge whose value is read at scrape time (queue sizes and the like)."""
        Gauge(name, doc, registry=self.registry).set_function(read)

    def counter(self, name: str, doc: str, read: Callable[[], float]) -> None:
        """A counter kept elsewhere (it only grows), read at scrape time; exposed as
        `<name>_total`."""
        self.registry.register(_CounterReading(name, doc, read))

    def observe_try(self, event: UsageEvent) -> None:
        """One upstream try: its outcome per deployment, and the energy and tokens it used."""
        team = self.team_label(event.team)
        model = self.model_label(event.model_id or event.requested_model)
        provider = event.provider or "none"
        key = (team, model, provider, event.deployment or "default", str(event.status_code))
        children = self._children.get(key)
        if children is None:
            base = (team, model, provider)
            children = self._children[key] = (
                self.attempts.labels(key[3], provider, key[4]),
                self.energy.labels(*base),
                self.emissions.labels(*base),
                self.water.labels(*base),
                self.tokens.labels(*base, "input"),
                self.tokens.labels(*base, "cached_input"),
                self.tokens.labels(*base, "output"),
                self.tokens.labels(*base, "reasoning"),
            )
        attempts, energy, emissions, water, t_in, t_cached, t_out, t_reason = children
        attempts.inc()
        if event.energy_wh:
            energy.inc(event.energy_wh * 3600.0)
            emissions.inc(event.emissions_gco2e)
            water.inc(event.water_ml / 1000.0)
        if event.input_tokens:
            t_in.inc(event.input_tokens)
        if event.cached_input_tokens:
            t_cached.inc(event.cached_input_tokens)
        if event.output_tokens:
            t_out.inc(event.output_tokens)
        if event.reasoning_tokens:
            t_reason.inc(event.reasoning_tokens)
        if event.usage_source == "estimated":
            self.estimated_usage.labels(event.endpoint).inc()

    def observe_request(
        self,
        *,
        team: str | None,
        model: str | None,
        provider: str | None,
        endpoint: str,
        status: int,
        duration_s: float,
        overhead_s: float,
        ttft_s: float | None = None,
    ) -> None:
        """One client request, counted once with the status the client got."""
        key = (self.team_label(team), self.model_label(model), provider or "none", endpoint,
               str(status))
        children = self._request_children.get(key)
        if children is None:
            children = self._request_children[key] = (
                self.requests.labels(*key),
                self.duration.labels(endpoint),
                self.overhead.labels(endpoint),
                self.ttft.labels(endpoint),
            )
        requests, duration, overhead, ttft = children
        requests.inc()
        duration.observe(duration_s)
        overhead.observe(overhead_s)
        if ttft_s is not None:
            ttft.observe(ttft_s)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _CounterReading(Collector):
    def __init__(self, name: str, doc: str, read: Callable[[], float]) -> None:
        self._name, self._doc, self._read = name, doc, read

    def collect(self) -> list[CounterMetricFamily]:
        return [CounterMetricFamily(self._name, self._doc, value=self._read())]

    def describe(self) -> list[CounterMetricFamily]:
        return [CounterMetricFamily(self._name, self._doc)]
