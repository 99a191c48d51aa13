"""Shared fixtures: a fresh database per test, on SQLite and (when available) PostgreSQL.

PostgreSQL tests read `WATTGATE_TEST_PG_URL` (an admin URL such as
`postgresql+asyncpg://postgres@127.0.0.1:5432/test`). Each test gets its own throw-away
database. With `CI=true` a missing or unreachable PostgreSQL fails the run instead of
skipping, so CI can never go green without having exercised it.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_URL = os.environ.get("WATTGATE_TEST_PG_URL", "")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _pg_admin_dsn() -> str:
    return PG_URL.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _pg_exec(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_pg_admin_dsn(), timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _require_pg() -> None:
    if not PG_URL:
        if IN_CI:
            pytest.fail(
                "CI=true but WATTGATE_TEST_PG_URL is not set: PostgreSQL tests must run in CI"
            )
        pytest.skip("PostgreSQL not configured (set WATTGATE_TEST_PG_URL)")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A URL to a brand-new, empty PostgreSQL database, dropped afterwards."""
    _require_pg()
    name = f"wg_test_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_pg_exec(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # unreachable server
        if IN_CI:
            pytest.fail(f"PostgreSQL unreachable at {PG_URL}: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    base, _, _ = PG_URL.rpartition("/")
    yield f"{base}/{name}"
    asyncio.run(_pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'wattgate.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """Every storage-touching test runs once per supported database."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_url")
