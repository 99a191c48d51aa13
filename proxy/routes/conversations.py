"""`GET /v1/conversations/{id}/impacts`: a conversation's running total (team-scoped: a
conversation of another team is a 404, as is one with no stored call)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from estimators.equivalents import equivalents
from proxy.errors import NotFoundError
from proxy.routes.api_docs import errors
from proxy.routes.deps import CallerDep, RuntimeDep
from proxy.routes.params import ConversationId

router = APIRouter(tags=["conversations"], responses=errors(400, 401, 404))


@router.get("/v1/conversations/{conversation_id:path}/impacts")
async def conversation_impacts(conversation_id: ConversationId, caller: CallerDep, rt: RuntimeDep
                               ) -> dict[str, Any]:
    """Energy (Wh), emissions (gCO2e) and water (mL) of every call of the conversation
    so far, with ranges, token counts, models, and everyday equivalents. A conversation
    is named by the `x-wattgate-conversation` header, the Responses API `conversation`,
    or the first response id of a `previous_response_id` chain."""
    team = None if caller.is_admin else caller.team
    total = await rt.conversations.total(team, conversation_id, max_age_s=0)
    if not total.requests:
        raise NotFoundError(f"No conversation '{conversation_id}' for this team.")
    body = total.to_dict()
    s = total.sums
    body["impacts"]["equivalents"] = equivalents(
        energy_wh=s["energy_wh"], emissions_gco2e=s["emissions_gco2e"], water_ml=s["water_ml"])
    return body
