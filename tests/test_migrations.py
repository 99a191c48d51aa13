"""Migrations build the schema from empty on every supported database, and match tables.py."""

from __future__ import annotations

import asyncio
import dataclasses

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
    assert current(db_url) == head() == "0004_rightsizing"
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
