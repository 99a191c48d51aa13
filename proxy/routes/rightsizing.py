"""`GET /v1/rightsizing`: the right-sizing report per team x model x task, with shadow
evidence. Admins see every team, team keys their own team only (as `/v1/reports`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from proxy.reports.rightsizing import render_report, rightsizing_report
from proxy.routes.api_docs import errors, json_or_text
from proxy.routes.deps import CallerDep, RuntimeDep
from proxy.routes.reports import _MEDIA, Format, SelectionDep, Str, build_filter

router = APIRouter(tags=["reports"], responses=errors(400, 401))


@router.get("/v1/rightsizing", responses=json_or_text(*_MEDIA.values()))
async def get_rightsizing(
    request: Request,
    caller: CallerDep,
    rt: RuntimeDep,
    selection: SelectionDep,
    to: Str = None,
    fmt: Annotated[Format, Query(alias="format")] = "json",
    evidence: Annotated[
        bool, Query(description="only the shadow-evaluation evidence table")
    ] = False,
) -> Response:
    """Calls, energy and emissions per team, model and task shape, the candidate model
    classes' estimates and savings, and shadow agreement with its 95% Wilson interval."""
    f = build_filter(caller, rt, request, selection, end=to)
    report = await rightsizing_report(
        rt.engine, f, config=rt.settings.rightsizing, deployments=rt.settings.deployments
    )
    return Response(render_report(report, fmt, evidence_only=evidence), media_type=_MEDIA[fmt])
