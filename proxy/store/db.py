"""Engine construction: one place that knows how SQLite and PostgreSQL differ at connect time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
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
PG_CONNECT_TIMEOUT_S = 5
_SUPPORTED = "sqlite+aiosqlite:///path.db or postgresql+asyncpg://user@host/db"


class DatabaseUnavailable(Exception):
    """The database cannot be used. The message is one line that names the database
    (never its password) and the reason."""


class DatabaseMisconfigured(DatabaseUnavailable):
    """The database cannot be used as configured, whatever the wait: a SQLite folder that is
    not there, an unknown host, database or role, a refused password. (An unreachable or
    silent server is an outage instead: the gateway starts and waits for it.)"""


# PostgreSQL errors that say the configuration is wrong, not that the server is away.
_MISCONFIGURED = frozenset({
    "InvalidCatalogNameError", "InvalidPasswordError", "InvalidAuthorizationSpecificationError",
    "gaierror",
})


def normalize_url(url: str | URL) -> URL:
    """`url` with its async driver; ValueError for a URL that cannot be parsed or a database
    Wattgate does not support (the message never repeats the URL: it may hold a password)."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise ValueError(f"not a database URL (expected {_SUPPORTED})") from None
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    if driver is None:
        raise ValueError(
            f"unsupported database URL scheme {parsed.drivername!r} (expected {_SUPPORTED})"
        )
    return parsed.set(drivername=driver)


def display_url(url: str | URL) -> str:
    """The URL to show people: its password masked."""
    return normalize_url(url).render_as_string(hide_password=True)


def sqlite_path(url: str | URL) -> Path | None:
    """The file of a SQLite URL; None for PostgreSQL and in-memory SQLite."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


async def probe(url: str | URL) -> None:
    """Connect once and run `SELECT 1`, or raise `DatabaseUnavailable` saying why.

    A SQLite file is created on first use, but not its folder: a missing folder is
    reported here rather than as SQLite's "unable to open database file".
    """
    parsed = normalize_url(url)
    path = sqlite_path(parsed)
    if path is not None and not path.parent.is_dir():
        raise DatabaseMisconfigured(
            f"the folder of SQLite file {path} does not exist (create it first)"
        )
    engine = create_engine(parsed)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (OSError, DBAPIError) as exc:
        cause: BaseException = exc
        if isinstance(exc, DBAPIError) and exc.orig is not None:  # the driver's own error
            cause = exc.orig.__cause__ or exc.orig
        error = (DatabaseMisconfigured if type(cause).__name__ in _MISCONFIGURED
                 else DatabaseUnavailable)
        raise error(f"cannot use {_where(parsed)}: {_reason(exc)}") from None
    finally:
        await engine.dispose()


def _where(url: URL) -> str:
    if url.get_backend_name() == "sqlite":
        return f"SQLite file {url.database}"
    return f"PostgreSQL database {url.database!r} at {url.host or 'localhost'}:{url.port or 5432}"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, DBAPIError):
        return str(exc.orig).splitlines()[0] if exc.orig is not None else type(exc).__name__
    if isinstance(exc, TimeoutError):
        return f"no answer within {PG_CONNECT_TIMEOUT_S} s"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


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
        connect_args={"timeout": PG_CONNECT_TIMEOUT_S, "command_timeout": 30},
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
