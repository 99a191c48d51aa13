"""A local copy of the active keys, so a gateway can start and authenticate callers while
its database is unreachable.

The file holds what the key cache holds: SHA-256 hashes of the keys (never a key), key ids,
teams, names, prefixes and creation times, as JSON:

    {"format": 1, "keys": [{"key_hash": "...", "key_id": "key_...", "team": "...",
                            "name": null, "prefix": "wg-AbCd", "created_at": "..."}]}

It is replaced atomically (a temporary file, fsync'd, renamed over the old one), readable
and writable by the gateway's user only (0600). A revoked key leaves it at the next refresh.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import orjson

from proxy.store.journal import fsync_dir
from proxy.store.keys import ApiKey

FORMAT = 1


def save(path: Path, keys: Mapping[str, ApiKey]) -> None:
    """Replace the snapshot at `path` with `keys` (hash -> key). Raises OSError."""
    doc = {
        "format": FORMAT,
        "keys": [
            {
                "key_hash": digest,
                "key_id": k.key_id,
                "team": k.team,
                "name": k.name,
                "prefix": k.prefix,
                "created_at": k.created_at.isoformat(),
            }
            for digest, k in sorted(keys.items())
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        os.write(fd, orjson.dumps(doc))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    fsync_dir(path.parent)


def load(path: Path) -> dict[str, ApiKey]:
    """The keys of the snapshot at `path` (hash -> key).

    Raises OSError when it cannot be read, ValueError when it is not a snapshot.
    """
    try:
        doc = orjson.loads(path.read_bytes())
        if doc.get("format") != FORMAT:
            raise ValueError(f"unknown snapshot format {doc.get('format')!r}")
        return {
            entry["key_hash"]: ApiKey(
                key_id=entry["key_id"],
                team=entry["team"],
                name=entry["name"],
                prefix=entry["prefix"],
                created_at=datetime.fromisoformat(entry["created_at"]),
                revoked_at=None,
            )
            for entry in doc["keys"]
        }
    except (KeyError, TypeError, AttributeError, orjson.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not a key snapshot: {exc!r}") from None
