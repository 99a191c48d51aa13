"""Teams, keys and usage rows against real SQLite and PostgreSQL databases."""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from proxy.events import UsageEvent
from proxy.store import AlreadyExists, NotFound, create_engine, keys, upgrade
from proxy.store.usage import count_events, get_event, insert_events


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    await asyncio.to_thread(upgrade, db_url)
    engine = create_engine(db_url)
    yield engine
    await engine.dispose()


def _event(request_id: str = "req-1", *, team: str = "alpha", attempt: int = 0) -> UsageEvent:
    return UsageEvent(
        event_id=uuid.uuid4().hex,
        request_id=request_id,
        created_at=datetime.now(UTC),
        team=team,
        endpoint="chat.completions",
        status_code=200,
        attempt=attempt,
        input_tokens=10,
        output_tokens=20,
        energy_wh=0.5,
        warnings=["fallback-profile", "estimated-usage"],
    )


def test_unsupported_url_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unsupported database URL scheme 'mysql'"):
        create_engine("mysql://user@localhost/db")


@pytest.mark.parametrize("name", ["", "a" * 65, "has space", "semi;colon", "ünïcode", "a/b"])
def test_bad_team_names_are_rejected(name: str) -> None:
    with pytest.raises(ValueError, match="invalid team name"):
        keys.validate_team_name(name)


async def test_teams(engine: AsyncEngine) -> None:
    team = await keys.create_team(engine, name="alpha")
    await keys.create_team(engine, name="Beta_2.x-y")
    assert team.created_at.tzinfo is not None
    assert [t.name for t in await keys.list_teams(engine)] == ["Beta_2.x-y", "alpha"]
    with pytest.raises(AlreadyExists):
        await keys.create_team(engine, name="alpha")
    with pytest.raises(ValueError):
        await keys.create_team(engine, name="no spaces")


async def test_key_lifecycle_stores_only_the_hash(engine: AsyncEngine) -> None:
    await keys.create_team(engine, name="alpha")
    key, api_key = await keys.create_key(engine, team="alpha", name="ci")

    assert key.startswith("wg-") and len(key) > 40
    assert re.fullmatch(r"key_[0-9a-f]{12}", api_key.key_id)
    assert api_key.prefix == key[:8] and api_key.team == "alpha" and api_key.active
    async with engine.connect() as conn:
        stored = [
            tuple(map(str, row)) for row in await conn.execute(text("SELECT * FROM api_keys"))
        ]
    assert len(stored) == 1
    assert not any(key in value for value in stored[0])
    assert hashlib.sha256(key.encode()).hexdigest() in stored[0]

    found = await keys.find_key(engine, key_hash=keys.hash_key(key))
    assert found == api_key
    assert await keys.load_active_keys(engine) == {keys.hash_key(key): api_key}

    assert await keys.revoke_key(engine, key_id=api_key.key_id) is True
    assert await keys.revoke_key(engine, key_id=api_key.key_id) is False
    assert await keys.revoke_key(engine, key_id="key_000000000000") is False
    assert await keys.find_key(engine, key_hash=keys.hash_key(key)) is None
    assert await keys.load_active_keys(engine) == {}
    [listed] = await keys.list_keys(engine, team="alpha")
    assert listed.revoked_at is not None and listed.revoked_at.tzinfo is not None


async def test_keys_are_listed_per_team(engine: AsyncEngine) -> None:
    await keys.create_team(engine, name="alpha")
    await keys.create_team(engine, name="beta")
    _, a = await keys.create_key(engine, team="alpha")
    _, b = await keys.create_key(engine, team="beta")
    assert await keys.list_keys(engine, team="alpha") == [a]
    assert {k.key_id for k in await keys.list_keys(engine)} == {a.key_id, b.key_id}
    with pytest.raises(NotFound):
        await keys.list_keys(engine, team="gamma")


async def test_key_for_unknown_team(engine: AsyncEngine) -> None:
    with pytest.raises(NotFound, match="nobody"):
        await keys.create_key(engine, team="nobody")


async def test_insert_is_idempotent_and_round_trips(engine: AsyncEngine) -> None:
    event = _event()
    await insert_events(engine, [event.to_row()])
    await insert_events(engine, [event.to_row(), _event("req-2").to_row()])
    assert await count_events(engine) == 2

    stored = await get_event(engine, request_id="req-1", team="alpha")
    assert stored is not None
    assert UsageEvent(**stored) == event  # every field, warnings and aware datetimes included


async def test_get_event_returns_latest_attempt_of_own_team(engine: AsyncEngine) -> None:
    first = _event("req-9", attempt=0)
    retry = _event("req-9", attempt=1)
    retry.created_at = first.created_at + timedelta(milliseconds=5)
    await insert_events(engine, [retry.to_row(), first.to_row()])

    latest = await get_event(engine, request_id="req-9", team="alpha")
    assert latest is not None and latest["event_id"] == retry.event_id
    assert await get_event(engine, request_id="req-9", team="beta") is None
    assert (await get_event(engine, request_id="req-9", team=None) or {})["attempt"] == 1
    assert await get_event(engine, request_id="missing", team=None) is None


async def test_large_batches_are_split_under_parameter_limits(engine: AsyncEngine) -> None:
    await insert_events(engine, [_event(f"r{i}").to_row() for i in range(2000)])
    assert await count_events(engine) == 2000
