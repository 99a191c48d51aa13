"""Usage rows: idempotent batch inserts (the writer and its spool replay) and single lookups."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from proxy.store.tables import UsageEventRow
from proxy.store.text import storable

usage_events = UsageEventRow.__table__
EVENT_COLUMNS: tuple[str, ...] = tuple(c.name for c in usage_events.columns if c.name != "id")
# Text that comes from a caller or an upstream (the rest is Wattgate's own or validated).
_CALLER_TEXT = ("requested_model", "served_model", "model_id", "response_id", "end_user",
                "conversation_id")

# One statement per dialect, built once: executed with a list of rows it becomes the
# driver's executemany, and SQLAlchemy's compiled cache is hit every time. (A multi-row
# VALUES statement would be re-compiled per batch, ~100 ms of event-loop time for 500 rows.)
_INSERTS = {
    name: dialect.insert(usage_events).on_conflict_do_nothing(index_elements=["event_id"])
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


async def insert_events(
    engine_or_conn: AsyncEngine | AsyncConnection, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Insert `UsageEvent.to_row()` dicts; rows whose `event_id` is already stored are skipped.

    Skipping on conflict is what makes spool replay safe: a batch that was partly or fully
    written before a crash can be replayed any number of times without duplicates. Given a
    connection, the caller owns the transaction; given an engine, the batch commits as one.
    """
    if not rows:
        return
    if isinstance(engine_or_conn, AsyncConnection):
        await _insert(engine_or_conn, rows)
        return
    async with engine_or_conn.begin() as conn:
        await _insert(conn, rows)


def _params(row: Mapping[str, Any]) -> dict[str, Any]:
    """One row's insert parameters; text from the call (a model name, ...) made storable.

    Rows spooled by an older version lack the newer (nullable) columns: stored as NULL."""
    params = {name: row.get(name) for name in EVENT_COLUMNS}
    for name in _CALLER_TEXT:
        params[name] = storable(params[name])
    return params


async def _insert(conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
    params = [_params(row) for row in rows]
    await conn.execute(_INSERTS[conn.dialect.name], params)


async def get_event(
    engine: AsyncEngine, *, request_id: str, team: str | None
) -> dict[str, Any] | None:
    """The stored event of a request's latest attempt, as `UsageEvent` keyword arguments.

    `team=None` searches every team (admin); otherwise other teams' requests stay invisible.
    """
    query = select(*(usage_events.c[name] for name in EVENT_COLUMNS)).where(
        usage_events.c.request_id == request_id
    )
    if team is not None:
        query = query.where(usage_events.c.team == team)
    query = query.order_by(usage_events.c.attempt.desc(), usage_events.c.id.desc()).limit(1)
    async with engine.connect() as conn:
        row = (await conn.execute(query)).first()
    if row is None:
        return None
    event = dict(row._mapping)
    event["warnings"] = event["warnings"].split(",") if event["warnings"] else []
    return event


async def count_events(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(usage_events)) or 0)
