"""Engine construction: one place that knows how SQLite and PostgreSQL differ at connect time."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

# Plain scheme -> async driver, so `postgresql://...` from an operator's environment just works.
_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}

SQLITE_BUSY_TIMEOUT_MS = 5000


def normalize_url(url: str | URL) -> URL:
    """`url` with its async driver; ValueError for a database Wattgate does not support."""
    parsed = make_url(url) if isinstance(url, str) else url
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    if driver is None:
        supported = "sqlite+aiosqlite:///path.db, postgresql+asyncpg://user@host/db"
        raise ValueError(
            f"unsupported database URL scheme {parsed.drivername!r}; use one of: {supported}"
        )
    return parsed.set(drivername=driver)


def create_engine(url: str | URL) -> AsyncEngine:
    """Build the process-wide async engine with settings suited to a write-heavy gateway."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    return create_async_engine(
        parsed,
        pool_size=10,
        max_overflow=10,
        pool_timeout=10,
        pool_pre_ping=True,  # notice a restarted server before a batch fails on a dead connection
        pool_recycle=1800,
        # asyncpg waits 60 s for a connection by default: far too long to notice an outage.
        connect_args={"timeout": 5, "command_timeout": 30},
    )


def _sqlite_engine(url: URL) -> AsyncEngine:
    engine = create_async_engine(url)

    @event.listens_for(engine.sync_engine, "connect")
    def _configure(dbapi_conn: Any, _record: Any) -> None:
        # WAL lets report readers run while the writer commits; busy_timeout makes concurrent
        # writers (CLI + server) wait instead of failing; SQLite ignores foreign keys unless asked.
        cursor = dbapi_conn.cursor()
        if url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine
