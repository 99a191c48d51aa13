"""Migrations build the schema from empty on every supported database, and match tables.py."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from proxy.events import UsageEvent
from proxy.store import create_engine
from proxy.store.migrate import alembic_config, current, head, upgrade
from proxy.store.tables import Base
from proxy.store.usage import EVENT_COLUMNS


async def _inspect(url: str, fn):  # type: ignore[no-untyped-def]
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(fn)
    finally:
        await engine.dispose()


def _diff(conn: Connection) -> list[object]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def test_upgrade_from_empty(db_url: str) -> None:
    assert current(db_url) is None
    upgrade(db_url)
    assert current(db_url) == head() == "0005_estimator_v3"
    tables = asyncio.run(_inspect(db_url, lambda c: set(inspect(c).get_table_names())))
    assert {"teams", "api_keys", "usage_events", "usage_daily", "team_budgets",
            "shadow_verdicts", "alembic_version"} <= tables


def test_metadata_matches_head(db_url: str) -> None:
    upgrade(db_url)
    assert asyncio.run(_inspect(db_url, _diff)) == []


def test_downgrade_and_upgrade_again(db_url: str) -> None:
    upgrade(db_url)
    command.downgrade(alembic_config(db_url), "base")
    assert current(db_url) is None
    upgrade(db_url)
    assert current(db_url) == head()


def test_usage_columns_are_the_event_fields() -> None:
    assert set(EVENT_COLUMNS) == {f.name for f in dataclasses.fields(UsageEvent)}


def test_rows_estimated_before_keep_no_water_split(db_url: str) -> None:
    """0005 adds the water split and the applied coefficients; older rows stay as stored."""
    from sqlalchemy import text

    from tests.reports_seed import at, make_row

    command.upgrade(alembic_config(db_url), "0004_rightsizing")
    row = make_row(team="a", model="gpt-4o", created_at=at(2026, 1, 5), input_tokens=10,
                   output_tokens=5)
    old_columns = [k for k in row if k not in
                   {"water_onsite_ml", "water_offsite_ml", "market_source", "factors"}]
    insert = text(f"INSERT INTO usage_events ({', '.join(old_columns)}) VALUES "
                  f"({', '.join(':' + c for c in old_columns)})")

    async def run(statement: Any, params: dict[str, Any] | None = None) -> Any:
        engine = create_engine(db_url)
        try:
            async with engine.begin() as conn:
                result = await conn.execute(statement, params)
                return result.all() if result.returns_rows else None
        finally:
            await engine.dispose()

    asyncio.run(run(insert, {c: row[c] for c in old_columns}))
    upgrade(db_url)
    [got] = asyncio.run(run(text(
        "SELECT energy_wh, water_ml, water_onsite_ml, water_offsite_ml, factors "
        "FROM usage_events")))
    energy, water, onsite, offsite, factors = got
    assert (energy, water) == (row["energy_wh"], row["water_ml"])
    assert (onsite, offsite, factors) == (None, None, None)
