"""Daily rollups: `usage_daily` holds per-day sums of `usage_events` for closed UTC days.

`refresh()` is idempotent and safe to run from several replicas at once (one transaction;
Postgres serialises refreshers on the `rollup_state` row). Each run

1. reads the newest event id `W`;
2. builds every closed day not built yet (days before today, UTC);
3. rebuilds the built days that received events since the last run (late spool replays,
   slow batches), found by event id; a slack window re-checks recent ids so rows that
   committed out of id order are picked up on the next run;
4. records `W` and the first unbuilt day.

Each rebuilt day counts exactly its events with `id <= W`. Reports add the events with
`id > W` from raw rows, so a report equals a direct sum over `usage_events` at any time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from proxy.background import Periodic
from proxy.reports.sql import (
    COUNTS,
    MEASURES,
    QUALITY_DIMS,
    daily,
    event_day,
    event_model,
    events,
    rollup_state,
)

STATE_NAME = "usage_daily"
SLACK_IDS = 50_000  # ids re-checked each run for rows that committed out of order


@dataclass(frozen=True, slots=True)
class RollupState:
    last_event_id: int
    rolled_through: date | None  # days before this one are built (None: nothing built)


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


async def read_state(conn: AsyncConnection) -> RollupState:
    row = (await conn.execute(
        select(rollup_state.c.last_event_id, rollup_state.c.rolled_through)
        .where(rollup_state.c.name == STATE_NAME)
    )).first()
    if row is None:
        return RollupState(0, None)
    return RollupState(int(row.last_event_id), row.rolled_through)


async def _rebuild(conn: AsyncConnection, *, lo: date | None, hi: date, max_id: int) -> None:
    """Replace the rollups of days in [lo, hi) with sums over their events with id <= max_id."""
    dialect = conn.dialect.name
    gone = delete(daily).where(daily.c.day < hi)
    if lo is not None:
        gone = gone.where(daily.c.day >= lo)
    await conn.execute(gone)
    day = event_day(dialect).label("day")
    model = event_model().label("model")
    cols = [day, events.c.team, model, events.c.provider, events.c.key_id,
            *(events.c[d] for d in QUALITY_DIMS),
            func.count().label("requests"),
            func.count(events.c.emissions_market_gco2e).label("market_requests"),
            *(func.coalesce(func.sum(events.c[m]), 0).label(m) for m in MEASURES)]
    query = select(*cols).where(events.c.id <= max_id, events.c.created_at < _day_start(hi))
    if lo is not None:
        query = query.where(events.c.created_at >= _day_start(lo))
    query = query.group_by(day, events.c.team, model, events.c.provider, events.c.key_id,
                           *(events.c[d] for d in QUALITY_DIMS))
    names = ["day", "team", "model", "provider", "key_id", *QUALITY_DIMS, *COUNTS, *MEASURES]
    await conn.execute(insert(daily).from_select(names, query))


async def refresh(engine: AsyncEngine, *, today: date | None = None) -> RollupState:
    """Bring `usage_daily` up to date (see the module docstring). Returns the new state."""
    today = today or datetime.now(UTC).date()
    async with engine.begin() as conn:
        dialect = conn.dialect.name
        if dialect == "postgresql":
            await conn.execute(_pg_upsert_state())
            await conn.execute(select(rollup_state.c.name).where(
                rollup_state.c.name == STATE_NAME).with_for_update())
        state = await read_state(conn)
        max_id = int(await conn.scalar(select(func.coalesce(func.max(events.c.id), 0))) or 0)
        through = state.rolled_through
        # Built days that received rows since the last run.
        touched: list[date] = []
        if through is not None and max_id > state.last_event_id - SLACK_IDS:
            day = event_day(dialect)
            found = await conn.execute(
                select(day).distinct().where(
                    events.c.id > max(0, state.last_event_id - SLACK_IDS),
                    events.c.id <= max_id,
                    events.c.created_at < _day_start(through),
                )
            )
            touched = sorted({_as_date(d) for (d,) in found})
        for d in touched:
            await _rebuild(conn, lo=d, hi=d + timedelta(days=1), max_id=max_id)
        new_through = max(today, through) if through is not None else today
        if through is None or through < today:
            # Day by day, so no single statement runs long (asyncpg's command timeout).
            first = through
            if first is None:
                oldest = await conn.scalar(select(func.min(events.c.created_at)))
                first = _as_date(oldest) if oldest is not None else new_through
                await conn.execute(delete(daily).where(daily.c.day < first))
            d = first
            while d < new_through:
                await _rebuild(conn, lo=d, hi=d + timedelta(days=1), max_id=max_id)
                d += timedelta(days=1)
        # Days built at the old watermark and not touched have no rows in (old W, W]
        # (apart from out-of-order commits, caught by the slack next run): still exact.
        values = {"last_event_id": max_id, "rolled_through": new_through,
                  "updated_at": datetime.now(UTC)}
        if dialect == "postgresql":
            await conn.execute(update(rollup_state).where(
                rollup_state.c.name == STATE_NAME).values(**values))
        else:
            result = await conn.execute(update(rollup_state).where(
                rollup_state.c.name == STATE_NAME).values(**values))
            if result.rowcount == 0:
                await conn.execute(insert(rollup_state).values(name=STATE_NAME, **values))
    return RollupState(max_id, new_through)


def _pg_upsert_state():  # type: ignore[no-untyped-def]
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    return pg_insert(rollup_state).values(
        name=STATE_NAME, last_event_id=0, rolled_through=None, updated_at=datetime.now(UTC)
    ).on_conflict_do_nothing(index_elements=["name"])


def _as_date(value: object) -> date:
    if isinstance(value, datetime):
        return (value if value.tzinfo is None else value.astimezone(UTC)).date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


class RollupTask:
    """Refreshes the rollups in the background every `interval_s` seconds."""

    def __init__(self, engine: AsyncEngine, *, interval_s: float = 60.0) -> None:
        self._periodic = Periodic(
            "wattgate-rollups", lambda: refresh(engine), interval_s=interval_s,
            failure="usage rollup refresh failed (reports read raw rows meanwhile)",
            run_at_start=True,
        )

    async def start(self) -> None:
        self._periodic.start()

    async def close(self) -> None:
        await self._periodic.close()
