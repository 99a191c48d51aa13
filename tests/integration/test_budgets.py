"""BudgetGuard: two processes' guards on one database agree, without drift."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from proxy.budgets import BudgetGuard
from proxy.errors import BudgetExceeded
from proxy.store import create_engine
from proxy.store.budgets import Budget, put_budget
from proxy.store.migrate import upgrade
from proxy.store.usage import insert_events
from tests.reports_seed import make_row


def test_two_guards_share_one_database(db_url: str) -> None:
    upgrade(db_url)

    async def main() -> None:
        engines = [create_engine(db_url), create_engine(db_url)]
        a, b = (BudgetGuard(e, refresh_s=3600) for e in engines)
        try:
            await put_budget(engines[0], Budget(team="t", soft_gco2e=1.0, hard_gco2e=10.0))
            await a.start()
            await b.start()
            assert a.check("t").remaining_g == 10.0
            now = datetime.now(UTC)
            rows = [make_row(team="t", model="gpt-4o", created_at=now, input_tokens=100,
                             output_tokens=100) for _ in range(3)]
            g = sum(r["emissions_gco2e"] for r in rows)
            wh = sum(r["energy_wh"] for r in rows)
            # Process A served the calls: it counts them at once, B does not know yet.
            for r in rows:
                a.add("t", r["emissions_gco2e"], r["energy_wh"], event_id=r["event_id"])
            assert a.state("t").used_g == pytest.approx(g)
            assert b.state("t").used_g == 0
            # The rows reach the database: after a refresh both agree, nothing is doubled.
            await insert_events(engines[0], rows)
            await a.refresh()
            await b.refresh()
            for guard in (a, b):
                assert guard.state("t").used_g == pytest.approx(g)
                assert guard.state("t").used_wh == pytest.approx(wh)
            # Pending usage not yet stored stays counted across refreshes.
            a.add("t", 5.0, 1.0, event_id="not-stored-yet")
            await a.refresh()
            assert a.state("t").used_g == pytest.approx(g + 5.0)
            # Over the hard budget: 429 with the budget and the reset date.
            a.add("t", 10.0, 1.0, event_id="also-pending")
            with pytest.raises(BudgetExceeded) as info:
                a.check("t")
            assert info.value.status == 429
            assert "hard monthly carbon budget" in info.value.message
            assert "-01 00:00 UTC" in info.value.message
            assert b.check("t").soft_exceeded is (g >= 1.0)
        finally:
            for guard in (a, b):
                await guard.close()
            for e in engines:
                await e.dispose()

    asyncio.run(main())
