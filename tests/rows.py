"""Reading stored usage rows straight from the database, as an auditor would."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import text

from proxy.store.db import create_engine


def _query(database_url: str) -> list[dict[str, Any]]:
    async def query() -> list[dict[str, Any]]:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as conn:
                result = await conn.execute(text("SELECT * FROM usage_events ORDER BY id"))
                return [dict(r._mapping) for r in result]
        finally:
            await engine.dispose()

    return asyncio.run(query())


def fetch_rows(
    database_url: str, n: int | None = None, timeout: float = 5.0
) -> list[dict[str, Any]]:
    """Every `usage_events` row; with `n`, waits (up to `timeout`) until there are that many.

    A stream's row is recorded just after its last byte, so tests that read right after a
    stream ends give the gateway a moment.
    """
    deadline = time.monotonic() + timeout
    while True:
        rows = _query(database_url)
        if n is None or len(rows) >= n or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)
