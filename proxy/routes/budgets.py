"""Budgets: `PUT/GET /admin/teams/{name}/budget` (master key) and `GET /v1/budgets`
(admin: every team; team key: its own)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field

from proxy.errors import BadRequest, NotFoundError
from proxy.routes.api_docs import errors
from proxy.routes.deps import AdminDep, CallerDep, RuntimeDep
from proxy.routes.params import RequestBody, TeamName
from proxy.routes.reports import sees_all_teams
from proxy.store import keys as key_store
from proxy.store.budgets import Budget, put_budget

router = APIRouter(tags=["budgets"], responses=errors(400, 401, 403, 404, 413))


class BudgetRequest(RequestBody):
    soft_gco2e: float | None = Field(default=None, ge=0, description="soft monthly gCO2e")
    hard_gco2e: float | None = Field(default=None, ge=0, description="hard monthly gCO2e (429)")
    soft_wh: float | None = Field(default=None, ge=0, description="soft monthly Wh")
    hard_wh: float | None = Field(default=None, ge=0, description="hard monthly Wh (429)")


@router.put("/admin/teams/{name}/budget")
async def set_budget(
    name: TeamName, body: BudgetRequest, rt: RuntimeDep, _: AdminDep
) -> dict[str, Any]:
    """Replace the team's budget; send every limit as null to remove it."""
    teams = {t.name for t in await key_store.list_teams(rt.engine)}
    if name not in teams:
        raise NotFoundError(f"Team '{name}' does not exist.")
    for kind in ("gco2e", "wh"):
        soft, hard = getattr(body, f"soft_{kind}"), getattr(body, f"hard_{kind}")
        if soft is not None and hard is not None and soft > hard:
            raise BadRequest(
                f"soft_{kind} ({soft}) must not exceed hard_{kind} ({hard})", param=f"soft_{kind}"
            )
    budget = Budget(team=name, **body.model_dump())
    await put_budget(rt.engine, budget)
    rt.budgets.set_budget(budget)
    await rt.budgets.refresh()  # start from this month's stored usage, not from zero
    return rt.budgets.state(name).to_dict()


@router.get("/admin/teams/{name}/budget")
async def get_budget(name: TeamName, rt: RuntimeDep, _: AdminDep) -> dict[str, Any]:
    return rt.budgets.state(name).to_dict()


@router.get("/v1/budgets")
async def list_budgets(request: Request, caller: CallerDep, rt: RuntimeDep) -> dict[str, Any]:
    """This month's usage against each budget (from the guard's last refresh)."""
    teams = None if sees_all_teams(caller, rt, request) else [caller.team]
    return {"object": "list", "data": [s.to_dict() for s in rt.budgets.states(teams)]}
