"""Admin API (master key): teams and keys. A key's plaintext is returned once, at creation."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from proxy.errors import BadRequest, Conflict, NotFoundError
from proxy.routes.api_docs import errors
from proxy.routes.deps import AdminDep, RuntimeDep
from proxy.routes.params import KeyId, KeyName, RequestBody, TeamName
from proxy.store import keys as store
from proxy.store.errors import AlreadyExists, NotFound

router = APIRouter(prefix="/admin", tags=["admin"], responses=errors(400, 401, 403, 404, 409, 413))


class TeamRequest(RequestBody):
    name: TeamName = Field(description="1-64 letters, digits, '.', '_' or '-'")


class TeamResponse(BaseModel):
    name: str
    created_at: datetime


class KeyRequest(RequestBody):
    team: TeamName
    name: KeyName | None = None


class NewKeyResponse(BaseModel):
    key: str = Field(description="shown once; only its hash is stored")
    key_id: str
    team: str


class KeyResponse(BaseModel):
    key_id: str
    team: str
    name: str | None
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


@router.post("/teams", status_code=status.HTTP_201_CREATED)
async def create_team(body: TeamRequest, rt: RuntimeDep, _: AdminDep) -> TeamResponse:
    try:
        team = await store.create_team(rt.engine, name=body.name)
    except ValueError as exc:
        raise BadRequest(str(exc), param="name") from None
    except AlreadyExists:
        raise Conflict(f"Team '{body.name}' already exists.", param="name") from None
    return TeamResponse(name=team.name, created_at=team.created_at)


@router.get("/teams")
async def list_teams(rt: RuntimeDep, _: AdminDep) -> list[TeamResponse]:
    return [
        TeamResponse(name=t.name, created_at=t.created_at)
        for t in await store.list_teams(rt.engine)
    ]


@router.post("/keys", status_code=status.HTTP_201_CREATED)
async def create_key(body: KeyRequest, rt: RuntimeDep, _: AdminDep) -> NewKeyResponse:
    try:
        key, record = await store.create_key(rt.engine, team=body.team, name=body.name)
    except NotFound:
        raise NotFoundError(f"Team '{body.team}' does not exist.", param="team") from None
    return NewKeyResponse(key=key, key_id=record.key_id, team=record.team)


@router.get("/keys")
async def list_keys(rt: RuntimeDep, _: AdminDep, team: TeamName | None = None) -> list[KeyResponse]:
    try:
        found = await store.list_keys(rt.engine, team=team)
    except NotFound:
        raise NotFoundError(f"Team '{team}' does not exist.") from None
    return [
        KeyResponse(
            key_id=k.key_id,
            team=k.team,
            name=k.name,
            prefix=k.prefix,
            created_at=k.created_at,
            revoked_at=k.revoked_at,
        )
        for k in found
    ]


@router.delete("/keys/{key_id}")
async def revoke_key(key_id: KeyId, rt: RuntimeDep, _: AdminDep) -> dict[str, object]:
    if not await store.revoke_key(rt.engine, key_id=key_id):
        raise NotFoundError(f"No active key '{key_id}'.")
    rt.keys.revoke(key_id)
    return {"key_id": key_id, "revoked": True}
