"""Liveness, readiness and Prometheus exposition."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import PlainTextResponse

from proxy.metrics import CONTENT_TYPE
from proxy.routes.api_docs import errors
from proxy.routes.deps import IsMetricsReaderDep, MetricsReaderDep, RuntimeDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Not ready: no usage row can be persisted"}})
async def readyz(
    rt: RuntimeDep, response: Response, detail: IsMetricsReaderDep
) -> dict[str, object]:
    """Ready to take traffic, from state the gateway already holds (never waits on the
    database). 200 "ok": usage rows reach the journal and the database; 200 "degraded":
    they are persisted, but one of the two is failing; 503 "unavailable": neither the
    journal nor the database can take a usage row. Without the metrics token (or the
    master key) only `status` is shown."""
    writer = rt.writer
    database = rt.schema.error or writer.database_error or "ok"
    journal = f"unwritable: {writer.journal_error}" if writer.journal_error else "ok"
    if not writer.accepting:
        status = "unavailable"
        response.status_code = 503
    else:
        status = "ok" if database == journal == "ok" else "degraded"
    body: dict[str, object] = {
        "status": status,
        "database": database if database == "ok" else f"unavailable: {database}",
        "journal": journal,
        "usage_queue_rows": writer.queue_size,
        "usage_spooled_rows": writer.spooled_rows,
        "usage_rows_lost": writer.lost_rows,
    }
    return body if detail else {"status": body["status"]}


@router.get("/metrics", response_class=PlainTextResponse, responses=errors(401, 403))
async def metrics(rt: RuntimeDep, _: MetricsReaderDep) -> Response:
    """Prometheus exposition; needs the metrics token or the master key."""
    return Response(rt.metrics.exposition(), media_type=CONTENT_TYPE)
