"""`GET /v1/impacts/{request_id}`: the stored impacts of a past call of the caller's team."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from estimators.types import significant
from proxy.errors import NotFoundError
from proxy.routes.api_docs import errors
from proxy.routes.deps import CallerDep, RuntimeDep
from proxy.routes.params import RequestId
from proxy.store.usage import get_event

router = APIRouter(tags=["impacts"], responses=errors(400, 401, 404))


@router.get("/v1/impacts/{request_id}")
async def get_impacts(request_id: RequestId, caller: CallerDep, rt: RuntimeDep) -> dict[str, Any]:
    team = None if caller.is_admin else caller.team
    recent = rt.recorder.recent.get(request_id)
    if recent is not None and (team is None or recent.team == team):
        row: dict[str, Any] | None = recent.to_row()
        row["warnings"] = list(recent.warnings)  # type: ignore[index]
    else:
        row = await get_event(rt.engine, request_id=request_id, team=team)
    if row is None:
        raise NotFoundError(f"No call '{request_id}' for this team.")
    return impacts_from_row(row)


def _number(value: float | None) -> float | None:
    return None if value is None else significant(value)


def _range(row: dict[str, Any], name: str) -> dict[str, float | None]:
    return {k: _number(row[f"{name}{suffix}"])
            for k, suffix in (("value", ""), ("min", "_min"), ("max", "_max"))}


def impacts_from_row(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row in the same `impacts` shape the call itself returned."""
    created = row["created_at"]
    return {
        "request_id": row["request_id"],
        "created_at": created.isoformat() if hasattr(created, "isoformat") else created,
        "team": row["team"],
        "endpoint": row["endpoint"],
        "model": row["requested_model"],
        "served_model": row["served_model"],
        "status": row["status_code"],
        "metered": row["metered"],
        "impacts": {
            "energy_wh": _range(row, "energy_wh"),
            "emissions_gco2e": {
                **_range(row, "emissions_gco2e"),
                "operational": _number(row["emissions_operational_gco2e"]),
                "embodied": _number(row["emissions_embodied_gco2e"]),
                "market_based": _number(row["emissions_market_gco2e"]),
                "market_based_source": row.get("market_source"),
            },
            "water_ml": {
                **_range(row, "water_ml"),
                "onsite": _number(row.get("water_onsite_ml")),
                "offsite": _number(row.get("water_offsite_ml")),
            },
            "grid": {"zone": row["grid_zone"],
                     "gco2e_per_kwh": _number(row["grid_gco2e_per_kwh"])},
            "usage": {
                "input_tokens": row["input_tokens"],
                "output_tokens": row["output_tokens"],
                "cached_input_tokens": row["cached_input_tokens"],
                "reasoning_tokens": row["reasoning_tokens"],
                "source": row["usage_source"],
            },
            "method": row["method"],
            "quality": row["quality"],
            "model": row["model_id"],
            "warnings": row["warnings"],
        },
    }
