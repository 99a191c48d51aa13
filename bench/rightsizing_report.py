"""The right-sizing report (`wattgate rightsize`) for one month, all teams, over N events on
PostgreSQL.

    .venv/bin/python bench/rightsizing_report.py \\
        --url postgresql+asyncpg://postgres@127.0.0.1:5432/test --events 1000000

Fills a throw-away database like `bench/reports.py` (20 teams, 4 models, varied token
counts over 2026-10), gives the rows task shapes (classification, extraction,
summarisation, generation in turn), then times `rightsizing_report` with the default
candidates. Like `wattgate whatif`, the report reads raw events and re-estimates every
distinct (team, model, task, site, token counts) group once per candidate of its task.
Prints one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.reports import arguments, fill, scratch_database  # noqa: E402
from proxy.reports.periods import parse_period  # noqa: E402
from proxy.reports.queries import ReportFilter  # noqa: E402
from proxy.reports.rightsizing import rightsizing_report  # noqa: E402
from proxy.rightsizing.config import RightsizingSettings  # noqa: E402
from proxy.store import create_engine  # noqa: E402

LABEL = """
UPDATE usage_events SET task_confidence = 0.8, task = (ARRAY['classification', 'extraction',
  'summarisation', 'generation'])[1 + (id / 3) % 4]
"""


async def main(url: str, n: int, chunk: int) -> dict[str, object]:
    engine = create_engine(url)
    out: dict[str, object] = {"events": n}
    try:
        out["fill_s"] = await fill(engine, n, chunk)
        async with engine.begin() as conn:
            await conn.execute(text(LABEL))
        f = ReportFilter(period=parse_period(month="2026-10"))
        timings = []
        for _ in range(3):
            t = time.perf_counter()
            report = await rightsizing_report(engine, f, config=RightsizingSettings())
            timings.append(time.perf_counter() - t)
        out["report_s"] = {"first": round(timings[0], 2), "best": round(min(timings), 2)}
        out["rows"] = len(report.rows)
        out["calls"] = sum(r["calls"] for r in report.rows)
    finally:
        await engine.dispose()
    return out


def run() -> None:
    args = arguments(__doc__.splitlines()[0], 1_000_000)
    with scratch_database(args.url, keep=args.keep) as url:
        print(json.dumps(asyncio.run(main(url, args.events, args.chunk))))


if __name__ == "__main__":
    run()
