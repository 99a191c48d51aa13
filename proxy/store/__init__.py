"""Storage: schema, migrations, team keys, and the usage-row writer.

Repository functions take an `AsyncEngine` from `create_engine` and keyword arguments, and
know nothing about HTTP; they raise the errors below, which callers map to responses.
"""

from __future__ import annotations

from proxy.store.db import create_engine
from proxy.store.errors import AlreadyExists, NotFound, StoreError
from proxy.store.keys import ApiKey, Team
from proxy.store.migrate import current, upgrade
from proxy.store.writer import UsageWriter

__all__ = [
    "AlreadyExists",
    "ApiKey",
    "NotFound",
    "StoreError",
    "Team",
    "UsageWriter",
    "create_engine",
    "current",
    "upgrade",
]
