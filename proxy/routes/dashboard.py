"""`/dashboard`: a static page (plain JS and SVG, no external assets) that logs in with a
key (none in open mode) and reads the report API in the browser."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse, Response

from proxy.errors import NotFoundError
from proxy.routes.deps import RuntimeDep
from proxy.routes.params import Text

router = APIRouter(tags=["dashboard"], include_in_schema=False)

STATIC = Path(__file__).resolve().parents[1] / "static"
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


@router.get("/dashboard")
async def dashboard() -> Response:
    return FileResponse(STATIC / "dashboard.html", media_type=_TYPES[".html"], headers=_HEADERS)


@router.get("/dashboard/")
async def dashboard_slash() -> Response:
    return RedirectResponse("/dashboard")


@router.get("/dashboard/session")
async def session(rt: RuntimeDep) -> dict[str, bool]:
    """What the page needs before asking for a key: in open mode there are no keys."""
    return {"open_mode": rt.settings.open_mode}


@router.get("/dashboard/{name}")
async def asset(name: Text) -> Response:
    path = STATIC / name
    if "/" in name or path.suffix not in _TYPES or not path.is_file():
        raise NotFoundError(f"No dashboard file '{name}'.")
    return FileResponse(path, media_type=_TYPES[path.suffix], headers=_HEADERS)
