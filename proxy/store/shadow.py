"""Shadow-evaluation verdicts: one insert per evaluated call, and sums per (team, task,
candidate) for the right-sizing report and the routing policy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from proxy.rightsizing.agreement import Agreement
from proxy.store.tables import ShadowVerdictRow

shadow_verdicts = ShadowVerdictRow.__table__
VERDICT_COLUMNS: tuple[str, ...] = tuple(c.name for c in shadow_verdicts.columns if c.name != "id")
VERDICTS = ("agree", "disagree", "error")


async def insert_verdict(engine: AsyncEngine, row: Mapping[str, Any]) -> None:
    """Store one verdict; `row` has every column of `VERDICT_COLUMNS`."""
    async with engine.begin() as conn:
        await conn.execute(insert(ShadowVerdictRow), [{c: row[c] for c in VERDICT_COLUMNS}])


@dataclass(frozen=True, slots=True)
class VerdictTotals:
    """Shadow evaluations of one (team, task, candidate deployment) over a period."""

    team: str
    task: str
    candidate: str
    candidate_model: str | None
    agreement: Agreement
    energy_wh: float  # the shadow calls' own energy (not part of any usage total)
    emissions_gco2e: float
    water_ml: float

    def to_dict(self) -> dict[str, Any]:
        return {"team": self.team, "task": self.task, "candidate": self.candidate,
                "candidate_model": self.candidate_model, **self.agreement.to_dict(),
                "shadow_energy_wh": self.energy_wh,
                "shadow_emissions_gco2e": self.emissions_gco2e,
                "shadow_water_ml": self.water_ml}


def _count(verdict: str) -> Any:
    return func.sum(case((shadow_verdicts.c.verdict == verdict, 1), else_=0))


async def verdict_totals(
    engine: AsyncEngine, *, start: datetime, end: datetime, only_team: str | None = None,
    teams: Sequence[str] = (),
) -> list[VerdictTotals]:
    """Sums per (team, task, candidate) of verdicts created in [start, end), sorted."""
    t = shadow_verdicts.c
    keys = (t.team, t.task, t.candidate)
    query = select(
        *keys, func.max(t.candidate_model).label("candidate_model"),
        _count("agree").label("agreed"), _count("disagree").label("disagreed"),
        _count("error").label("errors"), func.sum(t.energy_wh).label("energy_wh"),
        func.sum(t.emissions_gco2e).label("emissions_gco2e"),
        func.sum(t.water_ml).label("water_ml"),
    ).where(t.created_at >= start, t.created_at < end).group_by(*keys).order_by(*keys)
    if only_team is not None:
        query = query.where(t.team == only_team)
    if teams:
        query = query.where(t.team.in_(teams))
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [
        VerdictTotals(
            team=r.team, task=r.task, candidate=r.candidate, candidate_model=r.candidate_model,
            agreement=Agreement(agreed=int(r.agreed), samples=int(r.agreed) + int(r.disagreed),
                                errors=int(r.errors)),
            energy_wh=float(r.energy_wh or 0.0), emissions_gco2e=float(r.emissions_gco2e or 0.0),
            water_ml=float(r.water_ml or 0.0),
        )
        for r in rows
    ]
