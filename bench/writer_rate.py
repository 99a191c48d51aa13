"""Usage-writer throughput: how many rows per second reach the database, and what each
submit() costs the request path.

    .venv/bin/python bench/writer_rate.py [--rows 50000] [--database-url URL]

Default database: a fresh SQLite file. For PostgreSQL pass e.g.
postgresql+asyncpg://postgres@127.0.0.1:5432/test (the table is created by migrations
and the rows are deleted afterwards).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from proxy.events import UsageEvent
from proxy.store.db import create_engine
from proxy.store.migrate import upgrade
from proxy.store.writer import UsageWriter


def make_event(i: int) -> UsageEvent:
    return UsageEvent(
        event_id=os.urandom(16).hex(), request_id=f"req_bench_{i}", created_at=datetime.now(UTC),
        team=f"team-{i % 10}", endpoint="chat.completions", status_code=200, key_id="key_bench",
        requested_model="gpt-4o-mini", served_model="gpt-4o-mini-2024-07-18",
        model_id="openai/gpt-4o-mini", provider="openai", input_tokens=100, output_tokens=300,
        usage_source="upstream", latency_s=0.5, energy_wh=0.3, energy_wh_min=0.2,
        energy_wh_max=0.5, emissions_gco2e=0.12, emissions_gco2e_min=0.08,
        emissions_gco2e_max=0.2, water_ml=1.2, water_ml_min=0.8, water_ml_max=1.9,
        grid_zone="USA", grid_gco2e_per_kwh=384.4, method="wattgate-2", quality="modelled-closed",
    )


async def run(url: str, rows: int, spool: Path) -> None:
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url)
    writer = UsageWriter(engine, spool_path=spool)
    await writer.start()
    events = [make_event(i) for i in range(rows)]
    start = time.perf_counter()
    for i, event in enumerate(events):
        writer.submit(event)
        if i % 1000 == 999:
            await asyncio.sleep(0)  # let the writer run, as request handling would
    submitted = time.perf_counter()
    await writer.wait_idle(timeout=300)
    done = time.perf_counter()
    await writer.close()
    async with engine.begin() as conn:
        stored = await conn.scalar(
            text("SELECT count(*) FROM usage_events WHERE request_id LIKE 'req_bench_%'"))
        await conn.execute(text("DELETE FROM usage_events WHERE request_id LIKE 'req_bench_%'"))
    await engine.dispose()
    print(f"database        {url.split('://')[0]}")
    print(f"rows            {rows:,} submitted, {stored:,} stored")
    print(f"submit()        {(submitted - start) / rows * 1e6:.1f} us per row (request-path cost)")
    print(f"write rate      {rows / (done - start):,.0f} rows/s end to end")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        asyncio.run(run(url, args.rows, Path(tmp) / "spool.jsonl"))


if __name__ == "__main__":
    main()
