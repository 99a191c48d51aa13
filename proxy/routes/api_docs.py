"""The OpenAPI schema, stating errors as Wattgate sends them, and the pages that serve it.

`/openapi.json` and `/docs` (Swagger UI) need the master key, or a local client in open
mode: the schema lists every operator endpoint, so it is not public. Tools fetch it with
the key (`curl -H "Authorization: Bearer $WATTGATE_MASTER_KEY" .../openapi.json`); a
browser can open `/docs` on the gateway's own machine in open mode.

Every error is OpenAI's envelope (`ERROR_SCHEMA`, whatever the route's own media type);
malformed input is a 400, so FastAPI's default 422 entries are taken out of the schema.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from proxy.routes.deps import AdminDep

router = APIRouter(include_in_schema=False)


_NULLABLE_STRING = {"anyOf": [{"type": "string"}, {"type": "null"}]}
ERROR_SCHEMA: dict[str, Any] = {
    "title": "ErrorResponse",
    "description": "OpenAI's error envelope",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": _NULLABLE_STRING,
                "code": _NULLABLE_STRING,
            },
        }
    },
}


_ERRORS = {
    400: "Malformed input (the parameter is named in `param`)",
    401: "Missing, unknown or revoked key",
    403: "The key may not use this endpoint",
    404: "No such team, key or call",
    409: "Already exists",
    413: "Request body larger than WATTGATE_MAX_BODY_BYTES",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries for error statuses, each in OpenAI's error envelope."""
    content = {"application/json": {"schema": ERROR_SCHEMA}}
    return {status: {"description": _ERRORS[status], "content": content} for status in statuses}


def json_or_text(*media_types: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` entry for a 200 that is a JSON object or, on request, text (`?format=csv`)."""
    content: dict[str, Any] = {"application/json": {"schema": {"type": "object"}}}
    for media in media_types:
        content.setdefault(media.split(";")[0], {"schema": {"type": "string"}})
    return {200: {"content": content}}


def install_schema(app: FastAPI) -> None:
    """Make `app.openapi()` drop FastAPI's 422 entries (Wattgate answers 400 instead)."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = generate()
            for operations in doc.get("paths", {}).values():
                for operation in operations.values():
                    operation.get("responses", {}).pop("422", None)
            schemas = doc.get("components", {}).get("schemas", {})
            for name in ("HTTPValidationError", "ValidationError"):
                schemas.pop(name, None)
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


@router.get("/openapi.json")
async def openapi(request: Request, _: AdminDep) -> dict[str, Any]:
    return request.app.openapi()  # type: ignore[no-any-return]


@router.get("/docs")
async def docs(_: AdminDep) -> HTMLResponse:
    return get_swagger_ui_html(openapi_url="/openapi.json", title="Wattgate API")
