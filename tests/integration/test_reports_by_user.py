"""Reports grouped by end user equal direct SQL sums, even where daily rollups exist
(which do not keep end users), and stay team-scoped."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from proxy.cli import cli
from proxy.reports.periods import parse_period
from proxy.reports.queries import ReportFilter, run_report
from proxy.reports.rollups import refresh
from proxy.store import create_engine
from proxy.store.migrate import upgrade
from proxy.store.usage import insert_events
from tests.reports_seed import random_rows

USERS = ("u_aaa", "u_bbb", None)


def _rows() -> list[dict[str, Any]]:
    rows = random_rows(300, start=parse_period(month="2026-10").start, days=10, seed=3)
    for i, row in enumerate(rows):
        row["end_user"] = USERS[i % len(USERS)]
    return rows


async def _sql(engine: Any) -> dict[tuple[str, str | None], tuple[int, float]]:
    async with engine.connect() as conn:
        result = await conn.execute(text(
            "SELECT team, end_user, count(*) AS n, sum(energy_wh) AS wh FROM usage_events "
            "GROUP BY team, end_user"))
        return {(r.team, r.end_user): (r.n, r.wh) for r in result}


def _seeded(url: str, body: Callable[[AsyncEngine], Awaitable[None]] | None = None) -> None:
    """Migrate the database at `url`, store `_rows()`, then run `body` on an engine."""
    upgrade(url)

    async def main() -> None:
        engine = create_engine(url)
        try:
            await insert_events(engine, _rows())
            if body is not None:
                await body(engine)
        finally:
            await engine.dispose()

    asyncio.run(main())


def test_by_user_equals_sql_with_rollups(db_url: str) -> None:
    async def body(engine: AsyncEngine) -> None:
        await refresh(engine, today=date(2026, 10, 9))  # most days are rolled up
        f = ReportFilter(period=parse_period(month="2026-10"))
        report = await run_report(engine, f, ["team", "user"])
        sums = await _sql(engine)
        got = {(r["team"], r["user"]): (r["requests"], r["energy_kwh"] * 1000)
               for r in report.rows}
        assert set(got) == set(sums)
        for key, (n, wh) in sums.items():
            assert got[key][0] == n
            assert got[key][1] == pytest.approx(wh, rel=1e-9)
        by_team = await run_report(engine, f, ["team"])
        assert report.total["energy_kwh"] == pytest.approx(by_team.total["energy_kwh"],
                                                           rel=1e-9)
        own = await run_report(engine, ReportFilter(period=f.period, only_team="search"),
                               ["user"])
        assert {r["user"] for r in own.rows} == {"u_aaa", "u_bbb", None}
        assert sum(r["requests"] for r in own.rows) == sum(
            n for (team, _), (n, _) in sums.items() if team == "search")

    _seeded(db_url, body)


def test_cli_by_user(sqlite_url: str) -> None:
    _seeded(sqlite_url)
    out = CliRunner().invoke(cli, ["report", "--month", "2026-10", "--team", "support", "--by",
                                   "user", "--format", "csv"],
                             env={"WATTGATE_DATABASE_URL": sqlite_url}, obj={})
    assert out.exit_code == 0, out.output
    parsed = list(csv.DictReader(io.StringIO(out.output)))
    assert {r["user"] for r in parsed} == {"u_aaa", "u_bbb", ""}
    assert list(parsed[0])[:2] == ["user", "requests"]
