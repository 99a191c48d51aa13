"""`create_app(settings)`: the ASGI application.

Proxied `/v1/*` calls go straight to the raw ASGI `Gateway`; everything else (admin,
health, metrics, impacts lookup, reports) is a FastAPI app behind `BodyAdmission` (no
body is read before the key is checked, none past the size limit). Both share one
`Runtime`, built in the lifespan.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException
from starlette.routing import Match

from proxy import __version__
from proxy.api_body import BodyAdmission
from proxy.call import new_request_id
from proxy.config import Settings
from proxy.edge import Receive, Scope, Send
from proxy.errors import ProxyError, error_body
from proxy.pipeline import Gateway
from proxy.routes import (
    admin,
    api_docs,
    budgets,
    conversations,
    dashboard,
    health,
    impacts,
    reports,
    rightsizing,
)
from proxy.runtime import Runtime

_API_PREFIXES = ("/v1/impacts/", "/v1/reports", "/v1/whatif", "/v1/budgets", "/v1/rightsizing")
_LOCATIONS = {"body", "query", "path", "header", "cookie"}


def _is_api(path: str) -> bool:
    """Wattgate's own `/v1` endpoints. `/v1/conversations/{id}/impacts` is ours; the rest
    of `/v1/conversations` is OpenAI's Conversations API and passes through."""
    if path.startswith("/v1/conversations/"):
        return path.endswith("/impacts")
    return path.startswith(_API_PREFIXES)


class WattgateApp:
    """Dispatches between the hot path and the API, and tags every answer with a request id."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.runtime: Runtime | None = None
        self.api = _build_api(self)
        self.admitted_api = BodyAdmission(self.api, lambda: self.runtime)
        self.gateway: Gateway | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and self.gateway is not None
            and scope["path"].startswith("/v1/")
            and not _is_api(scope["path"])
        ):
            await self.gateway(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.api(scope, receive, send)
            return
        request_id = new_request_id().encode()

        async def send_with_id(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name == b"x-request-id" for name, _ in headers):
                    headers.append((b"x-request-id", request_id))
                message = {**message, "headers": headers}
            await send(message)

        await self.admitted_api(scope, receive, send_with_id)


def create_app(settings: Settings) -> WattgateApp:
    return WattgateApp(settings)


def _build_api(holder: WattgateApp) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await Runtime.open(holder.settings)
        # Everything built so far (catalog, SQLAlchemy metadata, ...) lives as long as the
        # process: move it out of the collector's sight so full collections stay short and
        # do not stall requests for tens of milliseconds.
        gc.collect()
        gc.freeze()
        holder.runtime = runtime
        app.state.runtime = runtime
        holder.gateway = Gateway(runtime)
        try:
            yield
        finally:
            holder.gateway = None
            await runtime.close()

    api = FastAPI(
        title="Wattgate",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,  # both served by `api_docs`, behind the admin check
        openapi_url=None,
        redoc_url=None,
    )
    api_docs.install_schema(api)
    api.include_router(api_docs.router)
    api.include_router(health.router)
    api.include_router(admin.router)
    api.include_router(impacts.router)
    api.include_router(reports.router)
    api.include_router(budgets.router)
    api.include_router(conversations.router)
    api.include_router(dashboard.router)
    api.include_router(rightsizing.router)

    @api.exception_handler(ProxyError)
    async def _proxy_error(request: Request, exc: ProxyError) -> Response:
        return Response(exc.body(), status_code=exc.status, media_type="application/json")

    @api.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Response:
        kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        body = error_body(str(exc.detail), type=kind, code=str(exc.status_code))
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # Starlette names one route's methods; list the path's
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return Response(
            body, status_code=exc.status_code, headers=headers, media_type="application/json"
        )

    @api.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        loc = list(first.get("loc", ()))
        if loc and loc[0] in _LOCATIONS:  # OpenAI names the parameter alone
            loc = loc[1:]
        where = ".".join(str(p) for p in loc)
        message = f"{where}: {first.get('msg', 'invalid request')}" if where else "invalid request"
        body = error_body(message, type="invalid_request_error", param=where or None)
        return Response(body, status_code=400, media_type="application/json")

    return api


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this request's path."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return sorted(methods)
