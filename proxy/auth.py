"""Who is calling: API key -> team, with an in-memory cache so no request waits on the database.

The cache holds every active key (by hash) and is rebuilt every `ttl_s` seconds, so a
key revoked on any replica stops working within that time. A key the cache has not
seen yet (created on another replica a moment ago) costs one database lookup; unknown
keys are remembered briefly so a flood of bad keys cannot hammer the database.
"""

from __future__ import annotations

import hmac
import logging
import re
import time
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from proxy.background import Periodic
from proxy.errors import AuthenticationFailed
from proxy.store.keys import ApiKey, find_key, hash_key, load_active_keys

log = logging.getLogger("wattgate.auth")

OPEN_MODE_TEAM = "default"
ADMIN_TEAM = "admin"
_TEAM_HEADER_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True, slots=True)
class Caller:
    team: str
    key_id: str | None = None
    is_admin: bool = False
    upstream_authorization: str | None = None  # forwarded as is in open mode only


class KeyCache:
    def __init__(self, engine: AsyncEngine, *, ttl_s: float = 5.0) -> None:
        self._engine = engine
        self._ttl_s = ttl_s
        self._keys: dict[str, ApiKey] = {}
        self._unknown: dict[str, float] = {}
        self._refresher = Periodic(
            "wattgate-key-cache",
            self._reload,
            interval_s=ttl_s,
            failure="key cache refresh failed, keeping the cached keys",
        )

    async def start(self) -> None:
        self._keys = await load_active_keys(self._engine)
        self._refresher.start()

    async def close(self) -> None:
        await self._refresher.close()

    async def _reload(self) -> None:
        self._keys = await load_active_keys(self._engine)
        self._unknown.clear()

    def forget(self, key_id: str) -> None:
        """Drop a revoked key at once on this replica (others follow within ttl_s)."""
        self._keys = {h: k for h, k in self._keys.items() if k.key_id != key_id}

    async def lookup(self, key: str) -> ApiKey | None:
        digest = hash_key(key)
        found = self._keys.get(digest)
        if found is not None:
            return found
        now = time.monotonic()
        if self._unknown.get(digest, 0.0) > now:
            return None
        try:
            found = await find_key(self._engine, key_hash=digest)
        except Exception as exc:
            log.warning("key lookup failed: %s", exc)
            raise AuthenticationFailed("Key store unavailable; try again shortly.") from None
        if found is None:
            if len(self._unknown) > 10_000:
                self._unknown.clear()
            self._unknown[digest] = now + self._ttl_s
        else:
            self._keys = {**self._keys, digest: found}
        return found


def presented_key(headers: dict[bytes, bytes]) -> str | None:
    """The key from `Authorization: Bearer ...` or Anthropic's `x-api-key`."""
    auth = headers.get(b"authorization")
    if auth:
        scheme, _, token = auth.decode("latin-1").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return None
    api_key = headers.get(b"x-api-key")
    return api_key.decode("latin-1").strip() if api_key else None


def is_master(key: str | None, master_key: str | None) -> bool:
    return bool(key and master_key) and hmac.compare_digest(key.encode(), master_key.encode())


def open_mode_caller(headers: dict[bytes, bytes]) -> Caller:
    """Open mode: usage goes to `x-wattgate-team` (or "default"); the caller's key goes upstream."""
    team = headers.get(b"x-wattgate-team", b"").decode("latin-1").strip()
    if not _TEAM_HEADER_RE.match(team):
        team = OPEN_MODE_TEAM
    auth = headers.get(b"authorization")
    if auth is None and headers.get(b"x-api-key"):
        auth = b"Bearer " + headers[b"x-api-key"]
    return Caller(team=team, upstream_authorization=auth.decode("latin-1") if auth else None)


async def authenticate(
    headers: dict[bytes, bytes], *, master_key: str | None, keys: KeyCache
) -> Caller:
    if master_key is None:
        return open_mode_caller(headers)
    key = presented_key(headers)
    if key is None:
        raise AuthenticationFailed(
            "Missing API key. Send 'Authorization: Bearer <your Wattgate key>'."
        )
    if is_master(key, master_key):
        team = headers.get(b"x-wattgate-team", b"").decode("latin-1").strip()
        return Caller(team=team if _TEAM_HEADER_RE.match(team) else ADMIN_TEAM, is_admin=True)
    found = await keys.lookup(key)
    if found is None:
        raise AuthenticationFailed("Invalid or revoked API key.")
    return Caller(team=found.team, key_id=found.key_id)
