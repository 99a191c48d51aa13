"""No usage lost: the batch writer against real databases, including real outages.

Outages are real, not mocked: on SQLite the database file is swapped for a directory (as
when a volume disappears); on PostgreSQL the database stops accepting connections and
existing ones are terminated (as in a failover).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from proxy.events import UsageEvent
from proxy.store import UsageWriter, create_engine, upgrade
from proxy.store.usage import count_events, insert_events, usage_events
from tests.db_faults import DatabaseHang, outage

FAST = {"flush_interval_s": 0.01, "max_backoff_s": 0.2}


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    await asyncio.to_thread(upgrade, db_url)
    engine = create_engine(db_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def spool_path(tmp_path: Path) -> Path:
    return tmp_path / "spool" / "usage.jsonl"


def _events(n: int) -> list[UsageEvent]:
    now = datetime.now(UTC)
    return [
        UsageEvent(
            event_id=uuid.uuid4().hex,
            request_id=f"req-{i}",
            created_at=now,
            team="alpha",
            endpoint="chat.completions",
            status_code=200,
            output_tokens=i,
        )
        for i in range(n)
    ]


async def _distinct_events(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count(usage_events.c.event_id.distinct()))) or 0)


async def _until(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_every_submitted_row_is_written(engine: AsyncEngine, spool_path: Path) -> None:
    writer = UsageWriter(engine, spool_path=spool_path, batch_size=100, **FAST)
    await writer.start()
    for event in _events(1234):
        writer.submit(event)
    await writer.wait_idle(timeout=20)
    assert await count_events(engine) == 1234
    assert writer.written_rows == 1234 and writer.healthy and writer.queue_size == 0
    await writer.close()
    assert not spool_path.exists()


async def test_close_flushes_the_queue(engine: AsyncEngine, spool_path: Path) -> None:
    writer = UsageWriter(engine, spool_path=spool_path, flush_interval_s=10)
    await writer.start()
    for event in _events(300):
        writer.submit(event)
    await writer.close()
    assert await count_events(engine) == 300
    writer.submit(_events(1)[0])  # after close: kept on disk for the next start
    assert writer.spooled_rows == 1


async def test_outage_spools_then_replays_exactly_once(
    db_url: str, engine: AsyncEngine, spool_path: Path
) -> None:
    writer = UsageWriter(engine, spool_path=spool_path, batch_size=50, **FAST)
    await writer.start()
    before, during, after = _events(100), _events(250), _events(30)
    for event in before:
        writer.submit(event)
    await writer.wait_idle(timeout=20)

    async with outage(db_url, engine):
        for event in during:
            writer.submit(event)
        await _until(lambda: writer.spooled_rows == len(during) and writer.queue_size == 0)
        assert not writer.healthy
        await asyncio.sleep(0.5)  # several failed replay attempts while still down
        assert writer.spooled_rows == len(during)

    for event in after:
        writer.submit(event)
    await writer.wait_idle(timeout=20)
    assert writer.healthy
    assert await count_events(engine) == await _distinct_events(engine) == 380
    await writer.close()
    assert not spool_path.exists() and not spool_path.with_name("usage.jsonl.replaying").exists()


async def test_rows_spooled_at_shutdown_are_written_on_next_start(
    db_url: str, engine: AsyncEngine, spool_path: Path
) -> None:
    async with outage(db_url, engine):
        first = UsageWriter(engine, spool_path=spool_path, **FAST)
        await first.start()
        for event in _events(120):
            first.submit(event)
        await first.close()
        assert first.spooled_rows == 120 and not first.healthy

    second = UsageWriter(engine, spool_path=spool_path, **FAST)
    await second.start()
    assert await count_events(engine) == 120
    assert second.spooled_rows == 0 and second.healthy
    await second.close()


async def test_full_queue_overflows_to_spool(engine: AsyncEngine, spool_path: Path) -> None:
    writer = UsageWriter(engine, spool_path=spool_path, max_queue=3, **FAST)
    for event in _events(10):
        writer.submit(event)  # not started: nothing drains the queue
    assert writer.queue_size == 3 and writer.spooled_rows == 7
    await writer.start()
    await writer.wait_idle(timeout=20)
    assert await count_events(engine) == 10
    await writer.close()


async def test_replay_interrupted_by_a_crash_is_resumed_without_duplicates(
    engine: AsyncEngine, spool_path: Path
) -> None:
    events = [e.to_row() for e in _events(40)]
    # The previous process had claimed the spool and written half of it when it died,
    # and had spooled more rows since; its last append was torn.
    await insert_events(engine, events[:20])
    spool_path.parent.mkdir(parents=True)
    as_json = [json.dumps(row, default=str) for row in events]
    spool_path.with_name("usage.jsonl.replaying").write_text("\n".join(as_json[:30]) + "\n")
    spool_path.write_text(
        "\n".join([*as_json[25:], '{"event_id": "incomplete"}']) + '\n{"event_id": "torn'
    )

    writer = UsageWriter(engine, spool_path=spool_path, **FAST)
    await writer.start()
    await writer.wait_idle(timeout=20)
    assert await count_events(engine) == await _distinct_events(engine) == 40
    assert not spool_path.exists() and not spool_path.with_name("usage.jsonl.replaying").exists()
    assert writer.rejected_rows == 1 and writer.healthy
    await writer.close()


async def test_a_row_the_database_refuses_does_not_block_the_others(
    engine: AsyncEngine, spool_path: Path
) -> None:
    good = _events(20)
    bad = _events(1)[0]
    bad.created_at = "not a timestamp"  # type: ignore[assignment]
    writer = UsageWriter(engine, spool_path=spool_path, **FAST)
    await writer.start()
    for event in [*good[:10], bad, *good[10:]]:
        writer.submit(event)
    await writer.wait_idle(timeout=20)
    assert await count_events(engine) == 20
    assert writer.healthy and writer.rejected_rows == 1 and writer.spooled_rows == 0
    [line] = spool_path.with_name("usage.jsonl.rejected").read_text().splitlines()
    assert json.loads(line)["event_id"] == bad.event_id
    await writer.close()


@pytest.fixture
def hang(db_url: str) -> Iterator[DatabaseHang]:
    hang = DatabaseHang(db_url)
    yield hang
    hang.close()


async def test_a_hanging_database_sends_rows_to_the_journal_after_the_deadline(
    hang: DatabaseHang, spool_path: Path
) -> None:
    """A database that stops answering without closing connections: after the write
    deadline the queued rows leave memory (the journal has them), the queue never holds
    more than its bound, and once the database answers every row is written once."""
    await asyncio.to_thread(upgrade, hang.url)
    engine = create_engine(hang.url)
    writer = UsageWriter(engine, spool_path=spool_path, max_queue=50, write_timeout_s=0.5,
                         **FAST)
    await writer.start()
    before, during = _events(20), _events(300)
    for event in before:
        writer.submit(event)
    await writer.wait_idle(timeout=20)
    with hang.during():
        for event in during:
            writer.submit(event)
            assert writer.queue_size <= 50
        await _until(lambda: not writer.healthy and writer.queue_size == 0)
        assert writer.spooled_rows == len(during) and writer.accepting
        # PostgreSQL: the deadline; SQLite: its lock wait, set below the deadline.
        assert re.search(r"longer than 0\.5 s|database is locked", writer.database_error or "")
    await writer.wait_idle(timeout=30)
    assert writer.healthy
    assert await count_events(engine) == await _distinct_events(engine) == 320
    await writer.close()
    await engine.dispose()


async def test_an_unwritable_journal_keeps_rows_in_memory_and_counts_what_it_drops(
    db_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("the journal's directory should be here")
    writer = UsageWriter(engine, spool_path=blocker / "usage.jsonl", max_queue=20, **FAST)
    await writer.start()
    for event in _events(20):
        writer.submit(event)
    await writer.wait_idle(timeout=20)
    assert await count_events(engine) == 20  # straight from memory
    assert writer.journal_error and writer.accepting and writer.lost_rows == 0

    async with outage(db_url, engine):
        await writer.wait_idle(timeout=1)  # nothing pending: the next write finds the outage
        for event in _events(50):
            writer.submit(event)
        await _until(lambda: not writer.healthy)
        assert not writer.accepting  # neither the journal nor the database takes rows
        assert writer.queue_size == 20 and writer.lost_rows == 30

    await writer.wait_idle(timeout=20)
    assert await count_events(engine) == 20 + 20 and writer.lost_rows == 30

    blocker.unlink()  # the journal's volume is back
    await _until(lambda: writer.journal_error is None)
    async with outage(db_url, engine):
        for event in _events(40):
            writer.submit(event)
        await _until(lambda: not writer.healthy and writer.spooled_rows == 40)
        assert writer.accepting and writer.lost_rows == 30
    await writer.wait_idle(timeout=20)
    assert await count_events(engine) == await _distinct_events(engine) == 80
    await writer.close()


async def test_streams_cut_by_a_crash_are_recorded_as_interrupted(
    engine: AsyncEngine, spool_path: Path
) -> None:
    cut, finished = _events(2)
    for event in (cut, finished):
        event.status_code, event.error_type, event.stream = 499, "gateway_interrupted", True
    crashed = UsageWriter(engine, spool_path=spool_path, segment_bytes=2048, **FAST)
    crashed.begin_stream(cut)
    rows = _events(20)
    for event in rows[:10]:
        crashed.submit(event)
    crashed.begin_stream(finished)
    for event in rows[10:]:
        crashed.submit(event)  # small segments: the marks sit in segments sealed long ago
    done = dataclasses.replace(finished, status_code=200, error_type=None)
    crashed.submit(done)
    assert crashed.open_streams == 1
    del crashed  # the process dies: no close(), nothing reached the database

    restarted = UsageWriter(engine, spool_path=spool_path, **FAST)
    await restarted.start()
    await restarted.wait_idle(timeout=20)
    async with engine.connect() as conn:
        stored = {
            r.event_id: (r.status_code, r.error_type, r.usage_source)
            for r in await conn.execute(select(usage_events))
        }
    assert len(stored) == 22 == await count_events(engine)
    assert stored[cut.event_id] == (499, "gateway_interrupted", "none")
    assert stored[done.event_id] == (200, None, "none")
    await restarted.close()
    assert not list(spool_path.parent.glob("usage.jsonl.0*"))
