"""No usage lost: the batch writer against real databases, including real outages.

Outages are real, not mocked: on SQLite the database file is swapped for a directory (as
when a volume disappears); on PostgreSQL the database stops accepting connections and
existing ones are terminated (as in a failover).
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from proxy.events import UsageEvent
from proxy.store import UsageWriter, create_engine, upgrade
from proxy.store.usage import count_events, insert_events, usage_events

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


@asynccontextmanager
async def outage(db_url: str, engine: AsyncEngine) -> AsyncIterator[None]:
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "")
        await engine.dispose()  # close pooled connections (they would keep the old file open)
        os.replace(path, f"{path}.away")
        path.mkdir()
        try:
            yield
        finally:
            path.rmdir()
            os.replace(f"{path}.away", path)
        return
    admin = await asyncpg.connect(os.environ["WATTGATE_TEST_PG_URL"].replace("+asyncpg", ""))
    try:
        await admin.execute(f'ALTER DATABASE "{url.database}" WITH ALLOW_CONNECTIONS false')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            url.database,
        )
        try:
            yield
        finally:
            await admin.execute(f'ALTER DATABASE "{url.database}" WITH ALLOW_CONNECTIONS true')
    finally:
        await admin.close()


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
