"""Schema migrations, driven from code so `wattgate db upgrade` and tests need no alembic.ini.

These functions are synchronous (Alembic is) and run their own event loop: from async code
call them with `asyncio.to_thread(upgrade, url)`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

import proxy.migrations
from proxy.store.db import create_engine

# The repository's top-level `migrations/` folder, which the wheel installs as
# `proxy.migrations` (see setup.py): found the same way from a checkout and an install.
MIGRATIONS_DIR = Path(proxy.migrations.__file__).parent


def alembic_config(url: str) -> Config:
    """An Alembic config for `url`, for commands beyond upgrade (revision, downgrade, history)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision`, creating every table from empty if needed."""
    command.upgrade(alembic_config(url), revision)


def head() -> str | None:
    """The newest revision shipped with this code."""
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


def current(url: str) -> str | None:
    """The revision the database at `url` is at; None for a database never migrated."""
    return asyncio.run(_current(url))


async def _current(url: str) -> str | None:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_revision_of)
    finally:
        await engine.dispose()


def _revision_of(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()
