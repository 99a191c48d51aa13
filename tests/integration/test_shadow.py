"""Shadow evaluation against a real mock upstream as the candidate: agreement computed
correctly, the client never waits, limits hold, only verdicts and energy are stored; and
the routing decision reading the stored verdicts."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import openai
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from estimators import estimate
from proxy.config import Deployment
from proxy.events import UsageEvent
from proxy.mock_upstream.structured import agrees_with_reference, input_text
from proxy.rightsizing.agreement import wilson_interval
from proxy.rightsizing.config import RouteRule, ShadowRule, ShadowSettings
from proxy.rightsizing.evidence import AgreementBoard
from proxy.rightsizing.policy import decide_route
from proxy.rightsizing.shadow import ShadowEvaluator, upstream_sender
from proxy.store.db import create_engine
from proxy.store.migrate import upgrade
from proxy.store.shadow import insert_verdict, verdict_totals
from proxy.upstream import UpstreamClient
from tests.integration.conftest import GatewayFactory
from tests.servers import free_port

CANDIDATE_MODEL = "mock-small-agree-70"
SECRET = "Okapi-Narwhal"
LABELS = {"type": "string", "enum": ["billing", "shipping", "refund", "other"]}
FORMAT = {"type": "json_schema", "json_schema": {"name": "q", "schema": {
    "type": "object", "properties": {"queue": LABELS}, "required": ["queue"]}}}
MONTH = datetime.now(UTC).strftime("%Y-%m")


def config(mock: str) -> str:
    return f"""
models:
  - name: small
    base_url: {mock}
    upstream_model: {CANDIDATE_MODEL}
    estimate: {{model: llama-3.1-8b}}
shadow:
  max_concurrency: 64
  rules:
    - {{team: support, task: classification, candidate: small, sample_rate: 1}}
"""


def request(i: int) -> dict[str, Any]:
    return {"model": "gpt-4o", "response_format": FORMAT,
            "messages": [{"role": "system", "content": "Classify the ticket."},
                         {"role": "user", "content": f"{SECRET} ticket {i}: order {i * 31}"}]}


@pytest.fixture
async def upstream() -> AsyncIterator[UpstreamClient]:
    client = UpstreamClient(connect_timeout_s=5, read_timeout_s=30)
    await client.start()
    yield client
    await client.close()


async def recorded(runtime: Any, request_id: str) -> UsageEvent:
    """The gateway's event for a call (recorded just after the answer is sent)."""
    for _ in range(500):
        event = runtime.recorder.recent.get(request_id)
        if event is not None:
            return event  # type: ignore[no-any-return]
        await asyncio.sleep(0.01)
    raise TimeoutError(f"no event recorded for {request_id}")


async def engine_for(db_url: str) -> AsyncEngine:
    await asyncio.to_thread(upgrade, db_url)
    return create_engine(db_url)


def evaluator(settings: ShadowSettings, deployments: list[Deployment], client: UpstreamClient,
              engine: AsyncEngine, **kwargs: Any) -> ShadowEvaluator:
    async def store(row: dict[str, Any]) -> None:
        await insert_verdict(engine, row)

    return ShadowEvaluator(settings, deployments={d.name: d for d in deployments},
                           send=upstream_sender(client), store=store, **kwargs)


async def test_agreement_with_a_real_candidate(
    make_gateway: GatewayFactory, mock_upstream: str, db_url: str, upstream: UpstreamClient
) -> None:
    gateway = make_gateway(database_url=db_url, config=config(mock_upstream))
    runtime = gateway.app.runtime
    assert runtime is not None
    settings = runtime.settings
    engine = create_engine(db_url)
    shadow = evaluator(settings.rightsizing.shadow, list(settings.deployments), upstream, engine)
    client = openai.AsyncOpenAI(base_url=gateway.base_url, max_retries=0,
                                api_key=gateway.create_team_key("support"))
    n = 40
    for i in range(n):
        raw = await client.chat.completions.with_raw_response.create(**request(i))
        event = await recorded(runtime, raw.headers["x-request-id"])
        assert event.task == "classification"
        assert shadow.maybe_schedule(event, request(i), raw.parse().model_dump())
    await shadow.drain()
    gateway.wait_written()

    expected = sum(agrees_with_reference(CANDIDATE_MODEL, input_text(request(i)))
                   for i in range(n))
    assert 0 < expected < n
    (totals,) = await verdict_totals(engine, start=datetime.now(UTC) - timedelta(hours=1),
                                     end=datetime.now(UTC) + timedelta(hours=1))
    assert (totals.team, totals.task, totals.candidate) == ("support", "classification", "small")
    assert totals.candidate_model == "huggingface/meta-llama/Meta-Llama-3.1-8B"
    assert (totals.agreement.agreed, totals.agreement.samples, totals.agreement.errors) == (
        expected, n, 0)

    async with engine.connect() as conn:
        verdicts = [dict(r._mapping) for r in await conn.execute(
            text("SELECT * FROM shadow_verdicts ORDER BY id"))]
        usage_rows = (await conn.execute(text("SELECT count(*) FROM usage_events"))).scalar()
    assert usage_rows == n  # shadow calls are not usage rows
    for v in verdicts:
        want = estimate("llama-3.1-8b", input_tokens=v["input_tokens"],
                        output_tokens=v["output_tokens"], latency_s=v["latency_s"],
                        provider="openai")
        assert v["energy_wh"] == pytest.approx(want.energy_wh.value, rel=1e-9)
        assert v["verdict"] in ("agree", "disagree") and v["comparison"] == "label"
        assert v["model"] == "openai/gpt-4o" and v["usage_source"] == "upstream"
        for value in v.values():
            assert SECRET.lower() not in str(value).lower()
    assert totals.energy_wh == pytest.approx(sum(v["energy_wh"] for v in verdicts))
    assert shadow.spent_wh == pytest.approx(totals.energy_wh)

    report = httpx.get(gateway.url + "/v1/rightsizing", params={"month": MONTH}, timeout=30,
                       headers={"Authorization": f"Bearer {gateway.master_key}"}).json()
    (evidence,) = report["evidence"]
    low, high = wilson_interval(expected, n)
    assert (evidence["agreed"], evidence["samples"]) == (expected, n)
    assert evidence["agreement"] == pytest.approx(expected / n)
    assert (evidence["agreement_low"], evidence["agreement_high"]) == pytest.approx((low, high))
    assert report["shadow_total"]["energy_wh"] == pytest.approx(totals.energy_wh)
    assert report["shadow_total"]["calls"] == n
    (row,) = [r for r in report["rows"] if r["task"] == "classification"]
    small = row["candidates_detail"][1]
    assert small["evidence"]["agreed"] == expected  # evidence attached by catalog id

    # Routing reads the same verdicts: active at a threshold the evidence meets, not above.
    board = AgreementBoard(engine, window_days=30)
    await board.refresh()
    rate = expected / n
    met = RouteRule(team="support", task="classification", from_model="gpt-4o", to="small",
                    min_agreement=rate, min_samples=n)
    for rule, active in ((met, True), (replace(met, min_agreement=rate + 0.01), False),
                         (replace(met, min_samples=n + 1), False)):
        decision = decide_route((rule,), team="support", task="classification",
                                model="gpt-4o", refused=False, agreement=board.current)
        assert (decision is not None) is active
    await engine.dispose()


def event(i: int, **fields: Any) -> UsageEvent:
    base: dict[str, Any] = {"event_id": f"e{i}", "request_id": f"r{i}",
                            "created_at": datetime.now(UTC), "team": "support",
                            "endpoint": "chat.completions", "status_code": 200,
                            "task": "classification", "model_id": "openai/gpt-4o"}
    return UsageEvent(**{**base, **fields})


ANSWER = {"choices": [{"message": {"role": "assistant", "content": '{"queue": "billing"}'}}]}


def candidate(mock: str, name: str = "small", **headers: str) -> Deployment:
    return Deployment(name=name, base_url=mock, upstream_model=CANDIDATE_MODEL,
                      headers=tuple(headers.items()))


def rule(name: str = "small", rate: float = 1.0) -> ShadowRule:
    return ShadowRule(team="support", task="classification", candidate=name, sample_rate=rate,
                      comparison="label")


async def test_the_client_never_waits_for_the_candidate(
    mock_upstream: str, db_url: str, upstream: UpstreamClient
) -> None:
    engine = await engine_for(db_url)
    slow = candidate(mock_upstream, **{"x-mock-latency-ms": "1500"})
    shadow = evaluator(ShadowSettings(rules=(rule(),)), [slow], upstream, engine)
    assert shadow.maybe_schedule(event(1), request(1), ANSWER)
    # maybe_schedule has returned; the candidate has not even answered yet.
    assert shadow.in_flight == 1
    assert await verdict_totals(engine, start=datetime(2000, 1, 1, tzinfo=UTC),
                                end=datetime(2100, 1, 1, tzinfo=UTC)) == []
    await shadow.drain()
    (totals,) = await verdict_totals(engine, start=datetime(2000, 1, 1, tzinfo=UTC),
                                     end=datetime(2100, 1, 1, tzinfo=UTC))
    assert totals.agreement.samples == 1 and shadow.in_flight == 0
    await engine.dispose()


async def test_limits_and_failures(mock_upstream: str, db_url: str,
                                   upstream: UpstreamClient) -> None:
    engine = await engine_for(db_url)
    deps = [candidate(mock_upstream), candidate(mock_upstream, "slow", **{"x-mock-latency-ms":
                                                                          "300"}),
            candidate(mock_upstream, "broken", **{"x-mock-status": "500"}),
            Deployment(name="gone", base_url=f"http://127.0.0.1:{free_port()}/v1"),
            Deployment(name="claude", base_url=mock_upstream, provider="anthropic")]

    def make(*rules: ShadowRule, **kwargs: Any) -> ShadowEvaluator:
        settings = ShadowSettings(rules=rules, **kwargs)
        return evaluator(settings, deps, upstream, engine)

    async def verdicts() -> list[str]:
        async with engine.connect() as conn:
            result = await conn.execute(text("SELECT verdict FROM shadow_verdicts ORDER BY id"))
            return [r[0] for r in result]

    # Not scheduled: failed call, no task, no rule for the team or task, unreadable answer,
    # a candidate that speaks another protocol.
    shadow = make(rule())
    assert not shadow.maybe_schedule(event(1, status_code=429), request(1), ANSWER)
    assert not shadow.maybe_schedule(event(2, task=None), request(2), ANSWER)
    assert not shadow.maybe_schedule(event(3, team="search"), request(3), ANSWER)
    assert not shadow.maybe_schedule(event(4, task="extraction"), request(4), ANSWER)
    assert not shadow.maybe_schedule(event(5), None, ANSWER)
    assert not shadow.maybe_schedule(event(6), request(6), {"choices": []})
    assert shadow.skipped["unreadable"] == 1
    assert not make(rule("claude")).maybe_schedule(event(7), request(7), ANSWER)
    assert not shadow.maybe_schedule(event(8, endpoint="messages"), request(8), ANSWER)

    # Sampling: the injected draw decides.
    draws: Callable[[], float] = itertools.cycle([0.1, 0.6]).__next__
    sampled = evaluator(ShadowSettings(rules=(rule(rate=0.5),)), deps, upstream, engine,
                        sample=draws)
    assert [sampled.maybe_schedule(event(10 + i), request(i), ANSWER) for i in range(4)] == [
        True, False, True, False]
    await sampled.drain()

    # Concurrency: one slot, the second call finds it taken.
    busy = make(rule("slow"), max_concurrency=1)
    assert busy.maybe_schedule(event(20), request(20), ANSWER)
    assert not busy.maybe_schedule(event(21), request(21), ANSWER)
    assert busy.skipped["busy"] == 1
    await busy.drain()

    # Budget: once this period's shadow energy reaches it, nothing more until the next.
    now = [1_000_000.0]
    tight = evaluator(ShadowSettings(rules=(rule(),), budget_wh=1e-9, budget_period_s=3600),
                      deps, upstream, engine, clock=lambda: now[0])
    assert tight.maybe_schedule(event(30), request(30), ANSWER)
    await tight.drain()
    assert tight.spent_wh > 1e-9
    assert not tight.maybe_schedule(event(31), request(31), ANSWER)
    assert tight.skipped["budget"] == 1
    now[0] += 3600
    assert tight.maybe_schedule(event(32), request(32), ANSWER)
    await tight.drain()

    # A candidate that fails or cannot be reached: an `error` verdict with no energy.
    before = len(await verdicts())
    for name in ("broken", "gone"):
        failing = make(rule(name))
        assert failing.maybe_schedule(event(40), request(40), ANSWER)
        await failing.drain()
    assert (await verdicts())[before:] == ["error", "error"]
    async with engine.connect() as conn:
        errors = (await conn.execute(text(
            "SELECT status_code, energy_wh FROM shadow_verdicts WHERE verdict = 'error' "
            "ORDER BY id"))).all()
    assert [tuple(e) for e in errors] == [(500, 0.0), (None, 0.0)]
    assert len(await verdicts()) == before + 2 == 2 + 1 + 2 + 2

    # A store that fails loses the verdict, never raises into the gateway.
    async def broken_store(row: dict[str, Any]) -> None:
        raise OSError("disk full")

    lossy = ShadowEvaluator(ShadowSettings(rules=(rule(),)), deployments={"small": deps[0]},
                            send=upstream_sender(upstream), store=broken_store)
    assert lossy.maybe_schedule(event(50), request(50), ANSWER)
    await lossy.drain()
    await engine.dispose()


async def test_close_cancels_evaluations_in_flight(mock_upstream: str, db_url: str,
                                                   upstream: UpstreamClient) -> None:
    engine = await engine_for(db_url)
    slow = candidate(mock_upstream, **{"x-mock-latency-ms": "5000"})
    shadow = evaluator(ShadowSettings(rules=(rule(),)), [slow], upstream, engine)
    assert shadow.maybe_schedule(event(1), request(1), ANSWER)
    await shadow.close()
    assert shadow.in_flight == 0
    assert await verdict_totals(engine, start=datetime(2000, 1, 1, tzinfo=UTC),
                                end=datetime(2100, 1, 1, tzinfo=UTC)) == []
    await engine.dispose()
