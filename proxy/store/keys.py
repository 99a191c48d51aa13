"""Teams and API keys. Keys are shown once and stored only as SHA-256 hashes.

A plain (unsalted) SHA-256 is enough here: keys carry 256 bits of randomness, so there is
nothing to brute-force, and an unsalted hash lets the proxy find a key by one index lookup.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from proxy.store.errors import AlreadyExists, NotFound
from proxy.store.tables import ApiKeyRow, TeamRow
from proxy.store.text import is_plain

KEY_PREFIX = "wg-"
TEAM_NAME_PATTERN = r"[A-Za-z0-9._-]{1,64}"
_TEAM_NAME = re.compile(TEAM_NAME_PATTERN)
KEY_NAME_MAX_LENGTH: int = ApiKeyRow.__table__.c.name.type.length  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Team:
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: str
    team: str
    name: str | None
    prefix: str  # first characters of the key, so people can tell their keys apart
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def validate_team_name(name: str) -> str:
    """Team names end up in metrics labels, URLs and file names, so keep them plain."""
    if not _TEAM_NAME.fullmatch(name):
        raise ValueError(f"invalid team name {name!r}: use 1-64 letters, digits, '.', '_' or '-'")
    return name


def validate_key_name(name: str | None) -> str | None:
    """Key labels are free text, but fit their column and hold no control characters."""
    if name is not None and (len(name) > KEY_NAME_MAX_LENGTH or not is_plain(name)):
        raise ValueError(
            f"invalid key name: use at most {KEY_NAME_MAX_LENGTH} characters, "
            "no control characters"
        )
    return name


async def create_team(engine: AsyncEngine, *, name: str) -> Team:
    team = Team(name=validate_team_name(name), created_at=datetime.now(UTC))
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(TeamRow).values(name=team.name, created_at=team.created_at))
    except IntegrityError as exc:
        raise AlreadyExists(f"team {name!r} already exists") from exc
    return team


async def list_teams(engine: AsyncEngine) -> list[Team]:
    async with engine.connect() as conn:
        result = await conn.execute(select(TeamRow.name, TeamRow.created_at).order_by(TeamRow.name))
        return [Team(name=r.name, created_at=r.created_at) for r in result]


async def create_key(
    engine: AsyncEngine, *, team: str, name: str | None = None
) -> tuple[str, ApiKey]:
    """Create a key for `team`; the plaintext is returned here and never again.

    Raises `ValueError` for an invalid `name`, `NotFound` for an unknown team."""
    validate_key_name(name)
    key = generate_key()
    api_key = ApiKey(
        key_id="key_" + secrets.token_hex(6),
        team=team,
        name=name,
        prefix=key[:8],
        created_at=datetime.now(UTC),
        revoked_at=None,
    )
    async with engine.begin() as conn:
        team_id = await conn.scalar(select(TeamRow.id).where(TeamRow.name == team))
        if team_id is None:
            raise NotFound(f"team {team!r} does not exist")
        await conn.execute(
            insert(ApiKeyRow).values(
                key_id=api_key.key_id,
                team_id=team_id,
                name=name,
                key_hash=hash_key(key),
                prefix=api_key.prefix,
                created_at=api_key.created_at,
            )
        )
    return key, api_key


_KEY_COLUMNS = select(
    ApiKeyRow.key_id,
    TeamRow.name.label("team"),
    ApiKeyRow.name,
    ApiKeyRow.prefix,
    ApiKeyRow.created_at,
    ApiKeyRow.revoked_at,
).join(TeamRow, TeamRow.id == ApiKeyRow.team_id)


async def list_keys(engine: AsyncEngine, *, team: str | None = None) -> list[ApiKey]:
    """All keys, revoked ones included (they matter for audits), oldest first.

    Raises `NotFound` when `team` names no team."""
    query = _KEY_COLUMNS.order_by(ApiKeyRow.created_at, ApiKeyRow.key_id)
    async with engine.connect() as conn:
        if team is not None:
            if not _TEAM_NAME.fullmatch(team):
                raise NotFound(f"team {team!r} does not exist")
            if await conn.scalar(select(TeamRow.id).where(TeamRow.name == team)) is None:
                raise NotFound(f"team {team!r} does not exist")
            query = query.where(TeamRow.name == team)
        return [ApiKey(**r._mapping) for r in await conn.execute(query)]


async def revoke_key(engine: AsyncEngine, *, key_id: str) -> bool:
    """Revoke an active key; False when no active key has that id (unknown or already revoked)."""
    async with engine.begin() as conn:
        result = await conn.execute(
            update(ApiKeyRow)
            .where(ApiKeyRow.key_id == key_id, ApiKeyRow.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
        return bool(result.rowcount)


async def find_key(engine: AsyncEngine, *, key_hash: str) -> ApiKey | None:
    """The active key with this hash, if any."""
    query = _KEY_COLUMNS.where(ApiKeyRow.key_hash == key_hash, ApiKeyRow.revoked_at.is_(None))
    async with engine.connect() as conn:
        row = (await conn.execute(query)).first()
    return ApiKey(**row._mapping) if row is not None else None


async def load_active_keys(engine: AsyncEngine) -> dict[str, ApiKey]:
    """Every active key by hash, for the proxy's in-memory cache (refreshed every few seconds)."""
    query = _KEY_COLUMNS.add_columns(ApiKeyRow.key_hash).where(ApiKeyRow.revoked_at.is_(None))
    async with engine.connect() as conn:
        result = await conn.execute(query)
        return {
            r.key_hash: ApiKey(
                key_id=r.key_id,
                team=r.team,
                name=r.name,
                prefix=r.prefix,
                created_at=r.created_at,
                revoked_at=None,
            )
            for r in result
        }
