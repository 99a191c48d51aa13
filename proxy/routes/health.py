"""Liveness, readiness and Prometheus exposition."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import PlainTextResponse
from sqlalchemy import text

from proxy.metrics import CONTENT_TYPE
from proxy.routes.api_docs import errors
from proxy.routes.deps import IsMetricsReaderDep, MetricsReaderDep, RuntimeDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Not ready (the database is down)"}})
async def readyz(
    rt: RuntimeDep, response: Response, detail: IsMetricsReaderDep
) -> dict[str, object]:
    """Ready to take traffic: the database answers (usage is spooled while it does not).

    Without the metrics token (or master key) only `status` is shown."""
    try:
        async with rt.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        database = "ok"
    except Exception as exc:  # report, do not raise: readiness is an answer, not an error
        database = f"unavailable: {type(exc).__name__}"
        response.status_code = 503
    body: dict[str, object] = {
        "status": "ok" if database == "ok" else "degraded",
        "database": database,
        "usage_queue_rows": rt.writer.queue_size,
        "usage_spooled_rows": rt.writer.spooled_rows,
    }
    return body if detail else {"status": body["status"]}


@router.get("/metrics", response_class=PlainTextResponse, responses=errors(401, 403))
async def metrics(rt: RuntimeDep, _: MetricsReaderDep) -> Response:
    """Prometheus exposition; needs the metrics token or the master key."""
    return Response(rt.metrics.exposition(), media_type=CONTENT_TYPE)
