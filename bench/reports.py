"""One-month, all-teams report over N usage events on PostgreSQL (or SQLite).

    .venv/bin/python bench/reports.py --url postgresql+asyncpg://postgres@127.0.0.1:5432/test \
        --events 10000000

Creates a throw-away database (Postgres) or file (SQLite), fills `usage_events` with N
synthetic rows spread over 2026-10 (server-side `generate_series`, so filling is fast),
builds the daily rollups, then times `run_report(month=2026-10, by=team,model)` against the
rollups and, for comparison, from raw events only. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from proxy.reports.periods import parse_period
from proxy.reports.queries import ReportFilter, run_report
from proxy.reports.rollups import refresh
from proxy.store import create_engine
from proxy.store.migrate import upgrade

FILL_PG = """
INSERT INTO usage_events (event_id, request_id, created_at, team, endpoint, status_code, key_id,
  requested_model, served_model, model_id, provider, deployment, attempt, stream, metered,
  input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, usage_source, latency_s,
  ttft_s, energy_wh, energy_wh_min, energy_wh_max, emissions_gco2e, emissions_gco2e_min,
  emissions_gco2e_max, emissions_operational_gco2e, emissions_embodied_gco2e,
  emissions_market_gco2e, water_ml, water_ml_min, water_ml_max, grid_zone, grid_gco2e_per_kwh,
  method, quality, error_type, warnings)
SELECT md5(i::text || CAST(:salt AS text)), md5(i::text), timestamptz '2026-10-01 00:00:00+00'
         + (i % 2678400) * interval '1 second',
  'team-' || (i % 20), 'chat.completions', 200, 'key-' || (i % 60),
  m.name, m.name, 'openai/' || m.name, 'openai', NULL, 0, false, true,
  100 + i % 900, i % 100, 50 + i % 400, 0, CASE WHEN i % 7 = 0 THEN 'estimated' ELSE 'upstream' END,
  0.5, NULL, m.wh, m.wh * 0.7, m.wh * 1.5, m.wh * 0.4, m.wh * 0.28, m.wh * 0.6, m.wh * 0.38,
  m.wh * 0.02, CASE WHEN i % 2 = 0 THEN m.wh * 0.05 END, m.wh * 3, m.wh * 2, m.wh * 4.5,
  'USA', 384.0, 'wattgate-2 (ecologits-data 0.11.3)', 'modelled-closed', NULL, NULL
FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS i
CROSS JOIN LATERAL (SELECT (ARRAY['gpt-4o', 'gpt-4o-mini', 'gpt-4.1', 'o3'])[1 + i % 4] AS name,
                           (0.1 + (i % 13) * 0.05)::float8 AS wh) AS m
"""


async def fill(engine: AsyncEngine, n: int, chunk: int) -> float:
    """Insert `n` synthetic events over 2026-10 (PostgreSQL); returns the seconds taken."""
    t = time.perf_counter()
    async with engine.connect() as conn:
        await conn.execute(text("SET synchronous_commit = off"))
        for lo in range(0, n, chunk):
            await conn.execute(text(FILL_PG), {"lo": lo, "hi": min(n, lo + chunk) - 1,
                                               "salt": uuid.uuid4().hex})
            await conn.commit()
        await conn.execute(text("ANALYZE usage_events"))
        await conn.commit()
    return round(time.perf_counter() - t, 1)


async def main(url: str, n: int, chunk: int) -> dict[str, object]:
    engine = create_engine(url)
    out: dict[str, object] = {"events": n, "database": engine.dialect.name}
    try:
        out["fill_s"] = await fill(engine, n, chunk)
        f = ReportFilter(period=parse_period(month="2026-10"))
        t = time.perf_counter()
        raw = await run_report(engine, f, ("team", "model"))
        out["report_raw_events_s"] = round(time.perf_counter() - t, 3)
        t = time.perf_counter()
        await refresh(engine, today=date(2026, 11, 2))
        out["rollup_build_s"] = round(time.perf_counter() - t, 1)
        timings = []
        for _ in range(5):
            t = time.perf_counter()
            report = await run_report(engine, f, ("team", "model"))
            timings.append(time.perf_counter() - t)
        out["report_with_rollups_s"] = {"first": round(timings[0], 4),
                                        "median": round(sorted(timings)[2], 4)}
        out["rows"] = len(report.rows)
        out["requests"] = report.total["requests"]
        out["equal_to_raw"] = (report.total["requests"] == raw.total["requests"] and
                               abs(report.total["energy_kwh"] - raw.total["energy_kwh"])
                               <= 1e-9 * raw.total["energy_kwh"])
    finally:
        await engine.dispose()
    return out


def arguments(description: str, events: int) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--url", required=True, help="Postgres admin URL (a database is created)")
    parser.add_argument("--events", type=int, default=events)
    parser.add_argument("--chunk", type=int, default=500_000)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    return parser.parse_args()


@contextmanager
def scratch_database(admin_url: str, *, keep: bool) -> Iterator[str]:
    """A new, migrated PostgreSQL database (its URL), dropped afterwards unless `keep`."""
    import asyncpg

    name = f"wg_bench_{uuid.uuid4().hex[:8]}"
    admin = admin_url.replace("postgresql+asyncpg://", "postgresql://", 1)

    async def ddl(sql: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(ddl(f'CREATE DATABASE "{name}"'))
    url = f"{admin_url.rpartition('/')[0]}/{name}"
    try:
        upgrade(url)
        yield url
    finally:
        if not keep:
            asyncio.run(ddl(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def run() -> None:
    args = arguments(__doc__.splitlines()[0], 10_000_000)
    with scratch_database(args.url, keep=args.keep) as url:
        print(json.dumps(asyncio.run(main(url, args.events, args.chunk))))


if __name__ == "__main__":
    run()
