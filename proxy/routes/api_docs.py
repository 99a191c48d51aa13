"""`/openapi.json` and `/docs` (Swagger UI): the master key, or a local client in open mode.

The schema lists every operator endpoint, so it is not public. Tools fetch it with the
key (`curl -H 'Authorization: Bearer $WATTGATE_MASTER_KEY' .../openapi.json`); a
browser can open `/docs` from the gateway's own machine in open mode.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from proxy.routes.deps import AdminDep

router = APIRouter(include_in_schema=False)


@router.get("/openapi.json")
async def openapi(request: Request, _: AdminDep) -> dict[str, Any]:
    return request.app.openapi()  # type: ignore[no-any-return]


@router.get("/docs")
async def docs(_: AdminDep) -> HTMLResponse:
    return get_swagger_ui_html(openapi_url="/openapi.json", title="Wattgate API")
