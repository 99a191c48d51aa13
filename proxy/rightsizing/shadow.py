"""Shadow evaluation: after the client has its answer, replay a sampled call on a candidate
deployment in the background and record whether the two answers agree.

    evaluator.maybe_schedule(event, request_json, answer)   # microseconds, never awaits

`maybe_schedule` decides at once (rule for the call's team and task, sample rate, free
concurrency slot, energy budget left, a comparable answer) and, if the call is taken,
starts a background task; the client's response is never held back by it. The task sends
the same request (not streamed, model replaced) through an injected `send` function,
compares the answers (`proxy.rightsizing.compare`), estimates the candidate call's own
impacts and stores one verdict row through an injected `store` function: the verdict,
the candidate's tokens and impacts, never text. Shadow energy is counted against the
evaluator's own budget per period (per process) and reported apart from usage.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from typing import Protocol as Interface

import orjson

from estimators import Impacts, estimate
from proxy.config import Deployment
from proxy.forward import ANTHROPIC_VERSION, upstream_url
from proxy.protocols import Protocol, protocol_for
from proxy.rightsizing.compare import agrees, answer_of, comparable
from proxy.rightsizing.config import ShadowRule, ShadowSettings
from proxy.tokens import count_texts
from proxy.upstream import UpstreamClient, read_body
from proxy.usage import TokenUsage

log = logging.getLogger("wattgate.shadow")

SendFn = Callable[[Deployment, bytes, bytes], Awaitable[tuple[int, bytes]]]
"""(deployment, path below /v1 as a client sends it, JSON body) -> (HTTP status, body)."""
StoreFn = Callable[[dict[str, Any]], Awaitable[None]]
"""Stores one `shadow_verdicts` row (see proxy.store.shadow.insert_verdict)."""

PATHS = {  # the endpoints shadow evaluation replays, and the path a client calls for each
    "chat.completions": "/v1/chat/completions",
    "completions": "/v1/completions",
    "responses": "/v1/responses",
    "messages": "/v1/messages",
}


class ShadowCall(Interface):
    """What the evaluator reads about the original call (a `UsageEvent` has it all)."""

    request_id: str
    team: str
    endpoint: str
    status_code: int
    task: str | None
    model_id: str | None
    requested_model: str | None
    deployment: str | None  # the label of the deployment that served it


class ShadowEvaluator:
    def __init__(
        self,
        settings: ShadowSettings,
        *,
        deployments: Mapping[str, Deployment],
        send: SendFn,
        store: StoreFn,
        sample: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._deployments = deployments
        self._send = send
        self._store = store
        self._sample = sample
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()
        self._period = -1
        self.spent_wh = 0.0  # shadow energy of the current budget period, this process
        self.skipped: dict[str, int] = {"busy": 0, "budget": 0, "unreadable": 0}

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def maybe_schedule(
        self, call: ShadowCall, request_body: Mapping[str, Any] | None, answer_body: Any
    ) -> bool:
        """Start a background shadow evaluation of `call` if its rule samples it.

        `answer_body` is the parsed response as the upstream sent it (any metered protocol;
        without the annotation line) or, for a stream, its answer text. A call served by
        the rule's candidate itself is never taken. Returns whether an evaluation was
        started.
        """
        if not 200 <= call.status_code < 300 or call.task is None or request_body is None:
            return False
        rule = self.settings.rule_for(call.team, call.task)
        if rule is None or self._sample() >= rule.sample_rate:
            return False
        dep = self._deployments.get(rule.candidate)
        if dep is None or not _speaks(dep, call.endpoint):
            return False
        if call.deployment == dep.label:  # the candidate itself served it (re-routed, or
            return False  # asked for by name): comparing it with itself proves nothing
        if len(self._tasks) >= self.settings.max_concurrency:
            return self._skip("busy")
        if not self._budget_left():
            return self._skip("budget")
        reference = comparable(rule.comparison, answer_of(call.endpoint, answer_body))
        if reference is None:
            return self._skip("unreadable")
        task = asyncio.get_running_loop().create_task(
            self._evaluate(rule, dep, call, request_body, reference),
            name=f"wattgate-shadow-{call.request_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def drain(self) -> None:
        """Wait for the evaluations in flight (tests, clean shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        """Cancel the evaluations in flight (their verdicts are not stored)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _skip(self, reason: str) -> bool:
        self.skipped[reason] += 1
        return False

    def _budget_left(self) -> bool:
        period = int(self._clock() // self.settings.budget_period_s)
        if period != self._period:
            self._period, self.spent_wh = period, 0.0
        return self.spent_wh < self.settings.budget_wh

    async def _evaluate(self, rule: ShadowRule, dep: Deployment, call: ShadowCall,
                        request: Mapping[str, Any], reference: Any) -> None:
        started = datetime.now(UTC)
        t0 = time.perf_counter()
        path = PATHS[call.endpoint]
        protocol = protocol_for("POST", path)
        try:
            status, data = await asyncio.wait_for(
                self._send(dep, path[3:].encode(), shadow_body(request, dep)),
                self.settings.timeout_s)
        except Exception as exc:  # unreachable, timed out, refused: an `error` verdict
            log.info("shadow call %s to %s failed: %s", call.request_id, dep.label, exc)
            status, data = None, b""
        latency = time.perf_counter() - t0
        body = _json(data) if status is not None and 200 <= status < 300 else None
        verdict, usage, source, imp = "error", None, "none", None
        if isinstance(body, dict):
            usage, source = _usage(protocol, request, body)
            imp = _estimate(dep, protocol, usage, body, latency)
            self.spent_wh += imp.energy_wh.value
            answer = answer_of(call.endpoint, body)
            verdict = "agree" if agrees(rule.comparison, reference, answer) else "disagree"
        row = verdict_row(call, rule, dep, started=started, status=status, verdict=verdict,
                          usage=usage, usage_source=source, imp=imp, latency_s=latency)
        try:
            await self._store(row)
        except Exception as exc:  # a lost verdict costs evidence, never a client call
            log.warning("shadow verdict for %s not stored: %s", call.request_id, exc)


def upstream_sender(client: UpstreamClient) -> SendFn:
    """A `send` function over the gateway's pooled upstream client. Shadow calls carry the
    deployment's own key and configured headers, never anything from the client."""

    async def send(dep: Deployment, target: bytes, body: bytes) -> tuple[int, bytes]:
        response = await client.send("POST", client.url(upstream_url(dep, target)),
                                     headers=candidate_headers(dep), body=body,
                                     read_timeout_s=dep.timeout_s)
        try:
            return response.status, await read_body(response)
        finally:
            response.release()

    return send


def candidate_headers(dep: Deployment) -> list[tuple[str, str]]:
    out = [("content-type", "application/json")]
    if dep.provider == "anthropic":  # Anthropic authenticates with x-api-key
        if dep.api_key:
            out.append(("x-api-key", dep.api_key))
        out.append(("anthropic-version", ANTHROPIC_VERSION))
    elif dep.api_key:
        out.append(("authorization", f"Bearer {dep.api_key}"))
    out.extend(dep.headers)
    return out


def shadow_body(request: Mapping[str, Any], dep: Deployment) -> bytes:
    """The client's request for the candidate: its model name, not streamed."""
    body = {k: v for k, v in request.items() if k not in ("stream", "stream_options")}
    model = dep.upstream_model or dep.name
    body["model"] = model.removeprefix("anthropic/") if dep.provider == "anthropic" else model
    return orjson.dumps(body)


def verdict_row(call: ShadowCall, rule: ShadowRule, dep: Deployment, *, started: datetime,
                status: int | None, verdict: str, usage: TokenUsage | None, usage_source: str,
                imp: Impacts | None, latency_s: float) -> dict[str, Any]:
    """One `shadow_verdicts` row: verdict, tokens and impacts, no text. `candidate` is
    the name rules use (`shadow.rules[].candidate`, `route.rules[].to`), so route rules
    find their evidence also when the deployment has an `id`."""
    usage = usage or TokenUsage()
    return {
        "created_at": started, "request_id": call.request_id, "team": call.team,
        "task": rule.task, "model": call.model_id or call.requested_model,
        "candidate": rule.candidate, "candidate_model": imp.model_id if imp else None,
        "comparison": rule.comparison, "verdict": verdict, "status_code": status,
        "input_tokens": usage.input_tokens, "cached_input_tokens": usage.cached_input_tokens,
        "output_tokens": usage.output_tokens, "reasoning_tokens": usage.reasoning_tokens,
        "usage_source": usage_source, "latency_s": latency_s,
        "energy_wh": imp.energy_wh.value if imp else 0.0,
        "energy_wh_min": imp.energy_wh.min if imp else 0.0,
        "energy_wh_max": imp.energy_wh.max if imp else 0.0,
        "emissions_gco2e": imp.emissions_gco2e.value if imp else 0.0,
        "emissions_gco2e_min": imp.emissions_gco2e.min if imp else 0.0,
        "emissions_gco2e_max": imp.emissions_gco2e.max if imp else 0.0,
        "water_ml": imp.water_ml.value if imp else 0.0,
        "grid_zone": imp.grid_zone if imp else None, "method": imp.method if imp else None,
    }


def _speaks(dep: Deployment, endpoint: str) -> bool:
    """Whether the deployment takes this endpoint's request as it is (no translation)."""
    if endpoint not in PATHS or dep.translated and dep.provider != "anthropic":
        return False
    return (dep.provider == "anthropic") == (endpoint == "messages")


def _usage(protocol: Protocol, request: Mapping[str, Any],
           body: dict[str, Any]) -> tuple[TokenUsage, str]:
    """The candidate's reported usage, else tokens counted here (`estimated`)."""
    usage = protocol.usage(body)
    if usage is not None:
        return usage, "upstream"
    counted = TokenUsage(input_tokens=protocol.input_tokens(dict(request)),
                         output_tokens=count_texts(protocol.output_texts(body)))
    return counted, "estimated"


def _estimate(dep: Deployment, protocol: Protocol, usage: TokenUsage, body: dict[str, Any],
              latency_s: float) -> Impacts:
    served = body.get("model")
    return estimate(
        served if isinstance(served, str) else dep.upstream_model or dep.name,
        input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
        cached_input_tokens=usage.cached_input_tokens, reasoning_tokens=usage.reasoning_tokens,
        latency_s=latency_s, kind=protocol.kind or "chat", provider=dep.provider,
        overrides=dep.overrides,
    )


def _json(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
