"""Conversation lookups in `usage_events`: a conversation's calls, and the conversation a
response id belongs to. Both use indexes (`team, conversation_id` and `response_id`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from proxy.store.tables import UsageEventRow

_events = UsageEventRow.__table__

# The columns a conversation total needs, one row per stored call.
CALL_COLUMNS: tuple[str, ...] = (
    "event_id", "team", "created_at", "input_tokens", "output_tokens",
    "energy_wh", "energy_wh_min", "energy_wh_max",
    "emissions_gco2e", "emissions_gco2e_min", "emissions_gco2e_max",
    "water_ml", "water_ml_min", "water_ml_max",
)


async def conversation_calls(
    engine: AsyncEngine, *, team: str | None, conversation_id: str
) -> list[dict[str, Any]]:
    """Every stored call of the conversation (see `proxy.display.conversations`): rows whose
    `conversation_id` or `response_id` is `conversation_id`, with `CALL_COLUMNS` and
    `model`. `team=None` searches every team (admin)."""
    c = _events.c
    model = func.coalesce(c.model_id, c.requested_model, literal("unknown")).label("model")
    query = select(*(c[name] for name in CALL_COLUMNS), model).where(
        or_(c.conversation_id == conversation_id, c.response_id == conversation_id)
    )
    if team is not None:
        query = query.where(c.team == team)
    async with engine.connect() as conn:
        return [dict(r._mapping) for r in await conn.execute(query)]


async def conversation_of_response(
    engine: AsyncEngine, *, team: str, response_id: str
) -> str | None:
    """The conversation of the team's call that produced `response_id`: its
    `conversation_id`, or the response id itself when that call had none. None when no
    stored call of the team produced it."""
    c = _events.c
    query = (
        select(c.conversation_id)
        .where(c.response_id == response_id, c.team == team)
        .order_by(c.id.desc())
        .limit(1)
    )
    async with engine.connect() as conn:
        row = (await conn.execute(query)).first()
    if row is None:
        return None
    return row.conversation_id or response_id
