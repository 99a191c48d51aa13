"""Team budgets: one row per team with optional soft/hard monthly limits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from proxy.store.tables import TeamBudgetRow

team_budgets = TeamBudgetRow.__table__


@dataclass(frozen=True, slots=True)
class Budget:
    team: str
    soft_gco2e: float | None = None
    hard_gco2e: float | None = None
    soft_wh: float | None = None
    hard_wh: float | None = None

    def is_empty(self) -> bool:
        return all(v is None for v in (self.soft_gco2e, self.hard_gco2e, self.soft_wh,
                                       self.hard_wh))


async def load_budgets(engine: AsyncEngine) -> dict[str, Budget]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(team_budgets))
        return {r.team: Budget(team=r.team, soft_gco2e=r.soft_gco2e, hard_gco2e=r.hard_gco2e,
                               soft_wh=r.soft_wh, hard_wh=r.hard_wh) for r in rows}


async def put_budget(engine: AsyncEngine, budget: Budget) -> None:
    """Create, replace or (all limits unset) remove a team's budget."""
    values = {"soft_gco2e": budget.soft_gco2e, "hard_gco2e": budget.hard_gco2e,
              "soft_wh": budget.soft_wh, "hard_wh": budget.hard_wh,
              "updated_at": datetime.now(UTC)}
    async with engine.begin() as conn:
        if budget.is_empty():
            await conn.execute(delete(team_budgets).where(team_budgets.c.team == budget.team))
            return
        result = await conn.execute(
            update(team_budgets).where(team_budgets.c.team == budget.team).values(**values))
        if result.rowcount == 0:
            await conn.execute(team_budgets.insert().values(team=budget.team, **values))
