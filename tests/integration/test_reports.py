"""Reports equal direct SQL sums over `usage_events`, with and without daily rollups."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import pytest
from sqlalchemy import text

from estimators import METHOD_VERSION
from proxy.reports.periods import PeriodError, parse_period
from proxy.reports.queries import ReportError, ReportFilter, parse_groupings, run_report
from proxy.reports.rollups import refresh
from proxy.reports.whatif import SAVINGS_TITLE, savings_section, top_savings, whatif
from proxy.store import create_engine
from proxy.store.migrate import upgrade
from proxy.store.usage import insert_events
from tests.reports_seed import at, make_row, random_rows

SQL_SUMS = """
SELECT team, count(*) AS requests, sum(input_tokens) AS input_tokens,
       sum(output_tokens) AS output_tokens, sum(cached_input_tokens) AS cached,
       sum(energy_wh) AS wh, sum(energy_wh_min) AS wh_min, sum(energy_wh_max) AS wh_max,
       sum(emissions_gco2e) AS g, sum(emissions_market_gco2e) AS market,
       sum(emissions_operational_gco2e) AS op, sum(emissions_embodied_gco2e) AS emb,
       sum(water_ml) AS water
FROM usage_events WHERE created_at >= :lo AND created_at < :hi GROUP BY team ORDER BY team
"""


async def _sql(engine: Any, lo: Any, hi: Any) -> dict[str, dict[str, Any]]:
    from proxy.store.tables import UTCDateTime

    dialect = engine.dialect
    bind = UTCDateTime().process_bind_param
    async with engine.connect() as conn:
        params = {"lo": bind(lo, dialect), "hi": bind(hi, dialect)}
        rows = await conn.execute(text(SQL_SUMS), params)
        return {r.team: dict(r._mapping) for r in rows}


def _check(report_rows: list[dict[str, Any]], sums: dict[str, dict[str, Any]]) -> None:
    got = {r["team"]: r for r in report_rows}
    assert set(got) == set(sums)
    for team, s in sums.items():
        r = got[team]
        assert r["requests"] == s["requests"]
        assert r["input_tokens"] == s["input_tokens"]
        assert r["output_tokens"] == s["output_tokens"]
        assert r["cached_input_tokens"] == s["cached"]
        assert r["energy_kwh"] * 1000 == pytest.approx(s["wh"], rel=1e-9)
        assert r["energy_kwh_min"] * 1000 == pytest.approx(s["wh_min"], rel=1e-9)
        assert r["energy_kwh_max"] * 1000 == pytest.approx(s["wh_max"], rel=1e-9)
        assert r["emissions_location_gco2e"] == pytest.approx(s["g"], rel=1e-9)
        assert r["emissions_market_gco2e"] == pytest.approx(s["market"], rel=1e-9)
        assert r["operational_gco2e"] == pytest.approx(s["op"], rel=1e-9)
        assert r["embodied_gco2e"] == pytest.approx(s["emb"], rel=1e-9)
        assert r["water_l"] * 1000 == pytest.approx(s["water"], rel=1e-9)


def test_report_equals_sql_sums_with_rollups_and_late_rows(db_url: str) -> None:
    upgrade(db_url)

    async def main() -> None:
        engine = create_engine(db_url)
        try:
            await insert_events(engine, random_rows(600, start=at(2026, 9, 28), days=12))
            period = parse_period(month="2026-10")
            f = ReportFilter(period=period)
            _check((await run_report(engine, f, ["team"])).rows,
                   await _sql(engine, period.start, period.end))
            # Build rollups as if today were 2026-10-06, then add late rows in built days,
            # rows today and rows in a partial range.
            await refresh(engine, today=date(2026, 10, 6))
            await insert_events(engine, random_rows(150, start=at(2026, 10, 1), days=8, seed=9))
            for p in (period, parse_period(start="2026-10-02T06:30:00", end="2026-10-05"),
                      parse_period(quarter="2026Q4"), parse_period(year="2026")):
                report = await run_report(engine, ReportFilter(period=p), ["team"])
                _check(report.rows, await _sql(engine, p.start, p.end))
            await refresh(engine, today=date(2026, 10, 8))
            await refresh(engine, today=date(2026, 10, 8))  # idempotent
            report = await run_report(engine, f, ["team"])
            _check(report.rows, await _sql(engine, period.start, period.end))
            # Totals and other groupings add up to the same numbers.
            by_day = await run_report(engine, f, ["day", "model"])
            assert sum(r["requests"] for r in by_day.rows) == report.total["requests"]
            assert sum(r["energy_kwh"] for r in by_day.rows) == pytest.approx(
                report.total["energy_kwh"], rel=1e-9)
            assert {r["day"][:7] for r in by_day.rows} == {"2026-10"}
        finally:
            await engine.dispose()

    asyncio.run(main())


def test_team_scope_and_filters(db_url: str) -> None:
    upgrade(db_url)

    async def main() -> None:
        engine = create_engine(db_url)
        try:
            rows = [make_row(team=t, model=m, created_at=at(2026, 10, 3, 12), input_tokens=100,
                             output_tokens=50)
                    for t in ("a", "b") for m in ("gpt-4o", "gpt-4o-mini")]
            await insert_events(engine, rows)
            p = parse_period(month="2026-10")
            own = await run_report(engine, ReportFilter(period=p, only_team="a"), ["team"])
            assert [r["team"] for r in own.rows] == ["a"]
            crafted = await run_report(
                engine, ReportFilter(period=p, teams=("b",), only_team="a"), ["team"])
            assert crafted.rows == []
            by_model = await run_report(engine, ReportFilter(period=p, models=("gpt-4o",)),
                                        ["model"])
            assert [r["model"] for r in by_model.rows] == ["openai/gpt-4o"]
            assert by_model.rows[0]["requests"] == 2
            assert by_model.rows[0]["upstream_usage_share"] == 1.0
            assert METHOD_VERSION in by_model.rows[0]["methods"]
        finally:
            await engine.dispose()

    asyncio.run(main())


def test_top_savings_are_the_largest_whatif_rows(db_url: str) -> None:
    upgrade(db_url)

    async def main() -> None:
        engine = create_engine(db_url)
        try:
            await insert_events(engine, random_rows(300, start=at(2026, 10, 1), days=20))
            p = parse_period(month="2026-10")
            for f in (ReportFilter(period=p), ReportFilter(period=p, teams=("search",)),
                      ReportFilter(period=p, models=("gpt-4o", "claude-sonnet-4")),
                      ReportFilter(period=parse_period(start="2026-10-03", end="2026-10-09"))):
                everything = await whatif(engine, f)
                top = await top_savings(engine, f)
                assert 0 < len(top) <= 5
                expected = sorted((r for r in everything if r["emissions_gco2e_saved"] > 0),
                                  key=lambda r: -r["emissions_gco2e_saved"])[:5]
                assert top == expected  # the very same rows and numbers as `wattgate whatif`
                assert [r["emissions_gco2e_saved"] for r in top] == sorted(
                    (r["emissions_gco2e_saved"] for r in top), reverse=True)
                for r in top:  # figures are rounded to 6 significant digits
                    assert r["emissions_gco2e_saved"] == pytest.approx(
                        r["emissions_gco2e_now"] - r["emissions_gco2e_alternative"], rel=1e-5)
                    assert r["saving_share"] == pytest.approx(
                        r["emissions_gco2e_saved"] / r["emissions_gco2e_now"], rel=1e-5)
                    assert r["held_constant"].startswith("tokens and call kind")
            # Nine team x model pairs have an alternative; only the five largest are kept.
            assert len(await whatif(engine, ReportFilter(period=p))) == 9
            # A team key sees its own team's savings only, whatever the filters say.
            own = await top_savings(engine, ReportFilter(period=p, only_team="support"))
            assert own and {r["team"] for r in own} == {"support"}
            assert await top_savings(engine, ReportFilter(period=p, teams=("search",),
                                                          only_team="support")) == []
            # An empty period has no savings and no section.
            empty = await top_savings(engine, ReportFilter(period=parse_period(month="2025-01")))
            assert empty == []
            assert savings_section(empty, "table") == savings_section(empty, "markdown") == ""
            table = savings_section(own, "table")
            assert SAVINGS_TITLE in table and "emissions_gco2e_saved" in table
            assert savings_section(own, "markdown").startswith(f"\n## {SAVINGS_TITLE}\n\n| team")
            assert savings_section(own, "csv") == savings_section(own, "json") == ""
        finally:
            await engine.dispose()

    asyncio.run(main())


@pytest.mark.parametrize("kwargs", [{"month": "2026-13"}, {"quarter": "2026Q5"}, {"year": "26"},
                                    {"start": "yesterday"}, {"month": "2026-10", "year": "2026"},
                                    {"start": "2026-10-05", "end": "2026-10-01"}])
def test_bad_periods(kwargs: dict[str, str]) -> None:
    with pytest.raises(PeriodError):
        parse_period(**kwargs)


def test_periods() -> None:
    q = parse_period(quarter="2026Q4")
    assert (q.start, q.end) == (at(2026, 10, 1), at(2027, 1, 1))
    r = parse_period(start="2026-10-01", end="2026-10-01")
    assert (r.start, r.end) == (at(2026, 10, 1), at(2026, 10, 2))
    assert parse_groupings("team, model") == ("team", "model")
    with pytest.raises(ReportError):
        parse_groupings("team,colour")
