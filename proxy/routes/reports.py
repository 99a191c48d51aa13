"""`GET /v1/reports`, `GET /v1/whatif`: usage reports for admins (all teams) and team keys
(their own team only, whatever the filters say). Same names as the `wattgate report` CLI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from proxy.auth import Caller
from proxy.errors import BadRequest
from proxy.render import FORMATS, render
from proxy.reports.esg import esg_csv, esg_report
from proxy.reports.periods import PeriodError, parse_period
from proxy.reports.queries import (
    COLUMNS,
    ReportError,
    ReportFilter,
    parse_groupings,
    run_report,
    split_list,
)
from proxy.reports.rightsizing import add_reduction_opportunities
from proxy.reports.whatif import COLUMNS as WHATIF_COLUMNS
from proxy.reports.whatif import parse_overrides, savings_section, top_savings, whatif
from proxy.routes.api_docs import errors, json_or_text
from proxy.routes.deps import CallerDep, RuntimeDep, is_local
from proxy.routes.params import Text
from proxy.runtime import Runtime

router = APIRouter(tags=["reports"], responses=errors(400, 401))

_MEDIA = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "markdown": "text/markdown; charset=utf-8",
    "table": "text/plain; charset=utf-8",
}

Str = Annotated[Text | None, Query()]
Format = Literal[FORMATS]  # type: ignore[valid-type]


@dataclass
class Selection:
    """The query parameters both endpoints share (the period's end is named per endpoint)."""

    from_: Annotated[Text | None, Query(alias="from")] = None
    month: Str = None
    quarter: Str = None
    year: Str = None
    team: Str = None
    model: Str = None
    provider: Str = None
    key: Str = None


SelectionDep = Annotated[Selection, Depends()]


def sees_all_teams(caller: Caller, rt: Runtime, request: Request) -> bool:
    """The master key sees every team; in open mode, so does a client on this machine."""
    if caller.is_admin:
        return True
    if rt.settings.master_key is None:
        return is_local(request)
    return False


def build_filter(
    caller: Caller, rt: Runtime, request: Request, selection: Selection, *, end: str | None
) -> ReportFilter:
    try:
        period = parse_period(
            start=selection.from_,
            end=end,
            month=selection.month,
            quarter=selection.quarter,
            year=selection.year,
        )
    except PeriodError as exc:
        raise BadRequest(str(exc), param=exc.param, code="invalid_period") from None
    return ReportFilter(
        period=period,
        teams=split_list(selection.team),
        models=split_list(selection.model),
        providers=split_list(selection.provider),
        keys=split_list(selection.key),
        only_team=None if sees_all_teams(caller, rt, request) else caller.team,
    )


@router.get("/v1/reports", responses=json_or_text(*_MEDIA.values()))
async def get_report(
    request: Request,
    caller: CallerDep,
    rt: RuntimeDep,
    selection: SelectionDep,
    to: Str = None,
    by: Str = None,
    fmt: Annotated[Format, Query(alias="format")] = "json",
    esg: bool = False,
    savings: Annotated[
        bool,
        Query(
            description="add the top 5 right-sizing opportunities "
            "(json, table, markdown; never csv)"
        ),
    ] = True,
) -> Response:
    f = build_filter(caller, rt, request, selection, end=to)
    try:
        groups = parse_groupings(by)
    except ReportError as exc:
        raise BadRequest(str(exc), param=exc.param, code="invalid_grouping") from None
    if esg:
        if fmt not in ("json", "csv"):
            raise BadRequest(
                "the ESG export comes as format=json or format=csv",
                param="format",
                code="invalid_format",
            )
        export = await esg_report(rt.engine, f)
        await add_reduction_opportunities(export, rt.engine, f, rt.settings)
        if fmt == "csv":
            return Response(esg_csv(export), media_type=_MEDIA["csv"])
        return _json(export)
    report = await run_report(rt.engine, f, groups)
    top = await top_savings(rt.engine, f) if savings and fmt != "csv" else None
    if fmt == "json":
        body = report.to_dict()
        if top is not None:
            body["savings"] = top
        return _json(body)
    text = render(report.rows, fmt, [*groups, *COLUMNS]) + savings_section(top or [], fmt)
    return Response(text, media_type=_MEDIA[fmt])


@router.get("/v1/whatif", responses=json_or_text(*_MEDIA.values()))
async def get_whatif(
    request: Request,
    caller: CallerDep,
    rt: RuntimeDep,
    selection: SelectionDep,
    until: Str = None,
    to: Annotated[Text | None, Query(description="alternative model for every call")] = None,
    alt: Annotated[list[Text] | None, Query(description="MODEL=SMALLER overrides")] = None,
    fmt: Annotated[Format, Query(alias="format")] = "json",
) -> Response:
    """Right-sizing. `to` names the alternative model (as in the CLI's `--to`); the period
    end is `until` here since `to` is taken."""
    f = build_filter(caller, rt, request, selection, end=until)
    try:
        overrides = parse_overrides(alt or [])
    except ValueError as exc:
        raise BadRequest(str(exc), param="alt") from None
    rows = await whatif(rt.engine, f, to=to, overrides=overrides)
    if fmt == "json":
        return _json({"object": "whatif", "period": f.period.to_dict(), "rows": rows})
    return Response(render(rows, fmt, WHATIF_COLUMNS), media_type=_MEDIA[fmt])


def _json(body: dict[str, Any]) -> Response:
    import orjson

    return Response(orjson.dumps(body), media_type="application/json")
