"""Running totals per conversation: stored calls plus calls recorded here and not stored
yet, each counted once; team-scoped; `previous_response_id` chains resolved."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from proxy.display.conversation_totals import ConversationTotals
from proxy.display.conversations import ConversationRef
from proxy.events import UsageEvent
from proxy.store.db import create_engine
from proxy.store.migrate import upgrade
from proxy.store.usage import insert_events
from tests.reports_seed import make_row
from tests.servers import free_port

NOW = datetime.now(UTC)


def call(team: str = "search", *, conversation: str | None = None, response: str | None = None,
         tokens: int = 100, minutes: int = 0) -> UsageEvent:
    row = make_row(team=team, model="gpt-4o", created_at=NOW + timedelta(minutes=minutes),
                   input_tokens=tokens, output_tokens=tokens)
    row.update(conversation_id=conversation, response_id=response, warnings=[])
    return UsageEvent(**row)


def run(db_url: str, body: Callable[[AsyncEngine], Awaitable[None]]) -> None:
    upgrade(db_url)

    async def main() -> None:
        engine = create_engine(db_url)
        try:
            await body(engine)
        finally:
            await engine.dispose()

    asyncio.run(main())


def wh(*events: UsageEvent) -> float:
    return sum(e.energy_wh for e in events)


def test_stored_and_recorded_calls_count_once(db_url: str) -> None:
    async def body(engine: AsyncEngine) -> None:
        totals = ConversationTotals(engine)
        stored = [call(conversation="c1", tokens=n, minutes=n // 100) for n in (100, 200)]
        await insert_events(engine, [e.to_row() for e in stored])
        recorded = call(conversation="c1", tokens=300, minutes=3)  # not written yet
        totals.add(stored[1])  # recorded here and already written
        totals.add(recorded)
        other_team = call("support", conversation="c1", tokens=5000)
        await insert_events(engine, [other_team.to_row()])
        total = await totals.total("search", "c1")
        assert total.requests == 3
        assert total.sums["energy_wh"] == pytest.approx(wh(*stored, recorded), rel=1e-12)
        assert total.sums["input_tokens"] == 600
        assert total.first_at == stored[0].created_at and total.last_at == recorded.created_at
        assert total.models == {"openai/gpt-4o"} and total.teams == {"search"}
        body_json = total.to_dict()
        assert body_json["impacts"]["energy_wh"]["min"] <= body_json["impacts"]["energy_wh"][
            "value"] <= body_json["impacts"]["energy_wh"]["max"]
        # the recorded call gets written: still counted once
        await insert_events(engine, [recorded.to_row()])
        fresh = await totals.total("search", "c1", max_age_s=0)
        assert fresh.requests == 3
        assert fresh.sums["energy_wh"] == pytest.approx(total.sums["energy_wh"], rel=1e-12)
        everyone = await totals.total(None, "c1", max_age_s=0)
        assert everyone.requests == 4 and everyone.teams == {"search", "support"}
        assert (await totals.total("research", "c1")).requests == 0

    run(db_url, body)


async def known_wh(totals: ConversationTotals, conversation: str) -> float:
    """The running total once the background read it started has landed."""
    for _ in range(500):
        wh_so_far = totals.running_wh("search", conversation)
        if wh_so_far is not None:
            return wh_so_far
        await asyncio.sleep(0.01)
    raise TimeoutError("the conversation was never read")


def test_running_total_never_waits_and_counts_each_call_once(db_url: str) -> None:
    async def body(engine: AsyncEngine) -> None:
        totals = ConversationTotals(engine)
        first = call(conversation="c2")
        totals.add(first)
        assert totals.running_wh("search", "c2") is None  # never read: read in the background
        assert await known_wh(totals, "c2") == pytest.approx(wh(first), rel=1e-12)
        current = call(conversation="c2", tokens=400)
        totals.add(current)
        totals.add(current)  # the same event twice counts once
        assert totals.running_wh("search", "c2") == pytest.approx(wh(first, current), rel=1e-12)
        assert totals.running_wh("search", None) is None

    run(db_url, body)


def test_previous_response_chains(db_url: str) -> None:
    async def body(engine: AsyncEngine) -> None:
        totals = ConversationTotals(engine)
        ref = ConversationRef
        # a chain started elsewhere (another replica): resolved from the stored rows
        root = call(response="resp_a")
        second = call(conversation="resp_a", response="resp_b")
        await insert_events(engine, [root.to_row(), second.to_row()])
        assert await totals.resolve("search", ref("resp_b", "previous_response")) == "resp_a"
        assert await totals.resolve("search", ref("resp_a", "previous_response")) == "resp_a"
        # another team cannot join the chain
        assert await totals.resolve("support", ref("resp_b", "previous_response")) == "resp_b"
        # a chain recorded here, not written yet: resolved from memory
        totals.add(call(conversation="conv_x", response="resp_c"))
        assert await totals.resolve("search", ref("resp_c", "previous_response")) == "conv_x"
        # unknown response: it starts the conversation
        assert await totals.resolve("search", ref("resp_zz", "previous_response")) == "resp_zz"
        assert await totals.resolve("search", ref("conv_9", "conversation")) == "conv_9"
        assert await totals.resolve("search", None) is None
        # the chain's total includes its first call (named by its response id)
        third = call(conversation="resp_a", response="resp_d")
        totals.add(third)
        total = await totals.total("search", "resp_a")
        assert total.requests == 3
        assert total.sums["energy_wh"] == pytest.approx(wh(root, second, third), rel=1e-12)

    run(db_url, body)


def test_memory_stays_bounded(db_url: str) -> None:
    async def body(engine: AsyncEngine) -> None:
        totals = ConversationTotals(engine, recent_size=3, reads_size=2, responses_size=2)
        events = [call(conversation=f"c{i}", response=f"r{i}") for i in range(6)]
        for e in events:
            totals.add(e)
        state: Any = totals
        assert len(state._recent) == 3 and len(state._responses) == 2
        assert set(state._by_key) == {"c3", "r3", "c4", "r4", "c5", "r5"}
        for i in range(4):
            await totals.total("search", f"c{i}")
        assert len(state._reads) == 2

    run(db_url, body)


def test_database_down_leaves_the_running_total_out(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        engine = create_engine(f"postgresql+asyncpg://nobody@127.0.0.1:{free_port()}/none")
        try:
            totals = ConversationTotals(engine, timeout_s=5)
            assert totals.running_wh("search", "c3") is None
            for _ in range(500):  # the background read fails and says so
                if "unavailable" in caplog.text:
                    break
                await asyncio.sleep(0.01)
            assert totals.running_wh("search", "c3") is None
            ref = ConversationRef("resp_1", "previous_response")
            assert await totals.resolve("search", ref) == "resp_1"
        finally:
            await engine.dispose()

    asyncio.run(main())
    assert "unavailable" in caplog.text and "lookup for resp_1 failed" in caplog.text
