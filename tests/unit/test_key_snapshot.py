"""The key snapshot: hashes only, owner-only permissions, replaced atomically, and a file
that is not a snapshot is refused rather than half-read."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from proxy.store import key_snapshot
from proxy.store.keys import ApiKey, generate_key, hash_key


def _key(team: str) -> tuple[str, ApiKey]:
    key = generate_key()
    return key, ApiKey(key_id=f"key_{team}", team=team, name=None, prefix=key[:8],
                       created_at=datetime.now(UTC), revoked_at=None)


def test_round_trip_keeps_hashes_only_with_owner_only_permissions(tmp_path: Path) -> None:
    path = tmp_path / "state" / "keys.json"
    (plain_a, a), (plain_b, b) = _key("alpha"), _key("beta")
    key_snapshot.save(path, {hash_key(plain_a): a, hash_key(plain_b): b})
    assert key_snapshot.load(path) == {hash_key(plain_a): a, hash_key(plain_b): b}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert plain_a not in text and plain_b not in text

    key_snapshot.save(path, {hash_key(plain_b): b})  # replaced, no temporary file left
    assert key_snapshot.load(path) == {hash_key(plain_b): b}
    assert [p.name for p in path.parent.iterdir()] == ["keys.json"]


@pytest.mark.parametrize(
    "content",
    ["not json", json.dumps({"format": 99, "keys": []}), json.dumps({"format": 1}),
     json.dumps({"format": 1, "keys": [{"key_hash": "x"}]}), json.dumps([1, 2])],
)
def test_a_file_that_is_not_a_snapshot_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "keys.json"
    path.write_text(content)
    with pytest.raises(ValueError):
        key_snapshot.load(path)
