"""Shared dependencies: the runtime, and callers resolved from the request's key."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from proxy.auth import Caller, authenticate, is_master, presented_key
from proxy.errors import AuthenticationFailed, PermissionDenied
from proxy.runtime import Runtime

_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_caller(request: Request, rt: Annotated[Runtime, Depends(get_runtime)]) -> Caller:
    headers = {k.lower().encode("latin-1"): v.encode("latin-1") for k, v in request.headers.items()}
    return await authenticate(headers, master_key=rt.settings.master_key, keys=rt.keys)


def require_admin(request: Request, rt: Annotated[Runtime, Depends(get_runtime)]) -> None:
    """The master key, or (open mode only) a client on this machine."""
    master = rt.settings.master_key
    if master is None:
        host = request.client.host if request.client else ""
        if host not in _LOOPBACK:
            raise PermissionDenied("Open mode: the admin API only answers local clients.")
        return
    headers = {k.lower().encode("latin-1"): v.encode("latin-1") for k, v in request.headers.items()}
    key = presented_key(headers)
    if key is None:
        raise AuthenticationFailed("Missing admin key. Send 'Authorization: Bearer <master key>'.")
    if not is_master(key, master):
        raise PermissionDenied("This endpoint needs the master key.")


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
CallerDep = Annotated[Caller, Depends(get_caller)]
AdminDep = Annotated[None, Depends(require_admin)]
