"""Shared dependencies: the runtime, callers resolved from the request's key, and the checks
for the operator's endpoints (admin API, API docs, metrics)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from proxy.auth import Caller, authenticate, presented_key
from proxy.errors import AuthenticationFailed, PermissionDenied, ProxyError
from proxy.runtime import Runtime

_LOOPBACK = {"127.0.0.1", "::1", "localhost"}

# Declares the bearer scheme in the OpenAPI schema; the checks below read the header
# themselves (Anthropic's `x-api-key` is accepted too).
_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="key",
    description="The master key, a team key, or (for /metrics) the metrics token",
)
Bearer = Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)]


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _headers(request: Request) -> dict[bytes, bytes]:
    return {k.lower().encode("latin-1"): v.encode("latin-1") for k, v in request.headers.items()}


def is_local(request: Request) -> bool:
    """The client is on this machine (what open mode trusts instead of a key)."""
    return (request.client.host if request.client else "") in _LOOPBACK


async def get_caller(
    request: Request, rt: Annotated[Runtime, Depends(get_runtime)], _: Bearer
) -> Caller:
    return await authenticate(_headers(request), master_key=rt.settings.master_key, keys=rt.keys)


def _secret_error(
    request: Request, secrets: tuple[str, ...], *, needs: str, open_mode: str
) -> ProxyError | None:
    """Why `request` may not pass: no secret configured and a remote client, or a missing or
    wrong bearer token (compared in constant time). None when it may."""
    if not secrets:
        return None if is_local(request) else PermissionDenied(open_mode)
    key = presented_key(_headers(request))
    if key is None:
        return AuthenticationFailed(f"Missing key. Send 'Authorization: Bearer <{needs}>'.")
    if not any(hmac.compare_digest(key.encode(), s.encode()) for s in secrets):
        return PermissionDenied(f"This endpoint needs the {needs}.")
    return None


def require_admin(
    request: Request, rt: Annotated[Runtime, Depends(get_runtime)], _: Bearer
) -> None:
    """The master key, or (open mode only) a client on this machine."""
    master = rt.settings.master_key
    error = _secret_error(
        request,
        (master,) if master else (),
        needs="master key",
        open_mode="Open mode: the admin API only answers local clients.",
    )
    if error is not None:
        raise error


def metrics_reader_error(request: Request, rt: Runtime) -> ProxyError | None:
    """`/metrics` readers: the metrics token or the master key; with neither set, local clients."""
    secrets = tuple(s for s in (rt.settings.metrics_token, rt.settings.master_key) if s)
    return _secret_error(
        request,
        secrets,
        needs="metrics token or master key",
        open_mode="Without WATTGATE_METRICS_TOKEN, /metrics only answers local clients.",
    )


def require_metrics_reader(
    request: Request, rt: Annotated[Runtime, Depends(get_runtime)], _: Bearer
) -> None:
    error = metrics_reader_error(request, rt)
    if error is not None:
        raise error


def is_metrics_reader(request: Request, rt: Annotated[Runtime, Depends(get_runtime)]) -> bool:
    return metrics_reader_error(request, rt) is None


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
CallerDep = Annotated[Caller, Depends(get_caller)]
AdminDep = Annotated[None, Depends(require_admin)]
MetricsReaderDep = Annotated[None, Depends(require_metrics_reader)]
IsMetricsReaderDep = Annotated[bool, Depends(is_metrics_reader)]
