"""Who is calling: API key -> team, with an in-memory cache so no request waits on the database.

The cache holds every active key (by hash) and is rebuilt every `ttl_s` seconds, so a
key revoked on any replica stops working within that time; on the replica that revoked it,
at once (`revoke()`: a tombstone outlives any reload that started before the revocation).
A key the cache has not seen yet (created on another replica a moment ago) costs one
database lookup, under a deadline; unknown keys are remembered briefly so a flood of bad
keys cannot hammer the database. Each reload that changes the keys is saved to a local
snapshot (hashes only), which serves callers when the gateway starts without a database.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from proxy.background import Periodic
from proxy.errors import AuthenticationFailed
from proxy.store import key_snapshot
from proxy.store.deadline import within
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
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        ttl_s: float = 5.0,
        snapshot_path: Path | None = None,
        timeout_s: float = 2.0,
    ) -> None:
        """`timeout_s` bounds each database read; `snapshot_path` None keeps no snapshot."""
        self._engine = engine
        self._ttl_s = ttl_s
        self._timeout_s = timeout_s
        self._snapshot_path = snapshot_path
        self._keys: dict[str, ApiKey] = {}
        self._unknown: dict[str, float] = {}
        self._database_ok = False  # the last read answered: unknown keys may be looked up
        self._saved: dict[str, ApiKey] | None = None  # what the snapshot file holds
        self._reloads_started = 0
        self._revocations = 0
        self._tombstones: dict[str, int] = {}  # key id -> reloads started when it was revoked
        self._refresher = Periodic(
            "wattgate-key-cache",
            self.reload,
            interval_s=ttl_s,
            failure="key cache refresh failed, keeping the cached keys",
        )

    async def start(self) -> None:
        """Keep reloading every ttl_s; until a reload succeeds, serve the snapshot's keys."""
        if not self._database_ok:
            self._saved = await asyncio.to_thread(self._read_snapshot)
            self._keys = self._without_revoked(self._saved)
            log.warning("key store not loaded: serving %d keys from the snapshot %s",
                        len(self._keys), self._snapshot_path)
        self._refresher.start()

    async def close(self) -> None:
        """Stop reloading; save the snapshot if keys were found or revoked since."""
        await self._refresher.close()
        if self._database_ok:
            await self._save_snapshot()

    async def reload(self) -> None:
        """Replace the cache with the database's active keys (and save the snapshot)."""
        self._reloads_started += 1
        started = self._reloads_started
        try:
            keys = await within(self._timeout_s, load_active_keys(self._engine), what="key reload")
        except Exception:
            self._database_ok = False
            raise
        self._database_ok = True
        # A revocation made before this reload started is in `keys` already.
        self._tombstones = {k: n for k, n in self._tombstones.items() if n >= started}
        self._keys = self._without_revoked(keys)
        self._unknown.clear()
        await self._save_snapshot()

    def revoke(self, key_id: str) -> None:
        """Stop accepting `key_id` here at once (call after the database revoked it; other
        replicas follow within ttl_s). A reload or lookup already running cannot bring it
        back."""
        self._revocations += 1
        self._tombstones[key_id] = self._reloads_started
        self._keys = self._without_revoked(self._keys)

    async def lookup(self, key: str) -> ApiKey | None:
        """The active key `key` is, or None. A key the cache does not hold is asked of the
        database; AuthenticationFailed when the database cannot answer."""
        digest = hash_key(key)
        found = self._keys.get(digest)
        if found is not None:
            return found
        now = time.monotonic()
        if self._unknown.get(digest, 0.0) > now:
            return None
        revocations = self._revocations
        found = await self._find(digest)
        if found is not None and self._revocations != revocations:
            found = await self._find(digest)  # revoked meanwhile? ask again, after the fact
        if found is None or found.key_id in self._tombstones:
            if len(self._unknown) > 10_000:
                self._unknown.clear()
            self._unknown[digest] = now + self._ttl_s
            return None
        self._keys = {**self._keys, digest: found}
        return found

    async def _find(self, digest: str) -> ApiKey | None:
        if not self._database_ok:
            raise AuthenticationFailed("Key store unavailable; try again shortly.")
        try:
            return await within(self._timeout_s, find_key(self._engine, key_hash=digest),
                                what="key lookup")
        except Exception as exc:
            self._database_ok = False  # until the next reload answers
            log.warning("key lookup failed: %s", exc)
            raise AuthenticationFailed("Key store unavailable; try again shortly.") from None

    def _without_revoked(self, keys: dict[str, ApiKey]) -> dict[str, ApiKey]:
        if not self._tombstones:
            return keys
        return {h: k for h, k in keys.items() if k.key_id not in self._tombstones}

    async def _save_snapshot(self) -> None:
        keys = self._keys
        if self._snapshot_path is None or keys == self._saved:
            return
        try:
            await asyncio.to_thread(key_snapshot.save, self._snapshot_path, keys)
        except OSError as exc:
            log.warning("could not save the key snapshot %s: %s", self._snapshot_path, exc)
        else:
            self._saved = keys

    def _read_snapshot(self) -> dict[str, ApiKey]:
        if self._snapshot_path is None or not self._snapshot_path.exists():
            return {}
        try:
            return key_snapshot.load(self._snapshot_path)
        except (OSError, ValueError) as exc:
            log.error("cannot read the key snapshot: %s", exc)
            return {}


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
