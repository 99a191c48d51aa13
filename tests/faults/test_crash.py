"""SIGKILL under load (an OOM kill, a crash), with the database answering or hanging.

Every call answered 2xx must have its row once the gateway is restarted on the same journal:
rows are journaled as each answer completes (no await in between), so a kill can only catch
a call whose last byte left in the same few microseconds. Streams cut by the kill are
recorded as interrupted (status 499, error_type "gateway_interrupted").
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AbstractContextManager, nullcontext

import httpx
import pytest

from tests.db_faults import DatabaseHang
from tests.faults.conftest import SLOW_STREAM_MODEL, ServeFactory, report, stored_rows
from tests.faults.gateway_process import drive

WINDOW = 1  # answered calls a kill may catch between an answer's last byte and its journal line


@pytest.mark.parametrize("database", ["answering", "hanging"])
async def test_sigkill_under_load_keeps_every_answered_call(
    db_url: str, database: str, serve: ServeFactory
) -> None:
    hang = DatabaseHang(db_url)
    try:
        gateway = serve(hang.url).start()
        key, _ = gateway.create_team_key("load")
        warm = httpx.post(gateway.url + "/v1/chat/completions", timeout=10,
                          headers={"Authorization": f"Bearer {key}"},
                          json={"model": "gpt-4o-mini", "messages": []})
        assert warm.status_code == 200, warm.text
        stop = asyncio.Event()
        during: AbstractContextManager[None] = (
            hang.during() if database == "hanging" else nullcontext()
        )
        with during:
            load = asyncio.create_task(
                drive(gateway.url, key, stop, plain=6, streams=3, stream_model=SLOW_STREAM_MODEL)
            )
            await asyncio.sleep(1.5)
            asked = time.monotonic()
            code, ready = await asyncio.to_thread(gateway.readyz)  # never waits on the database
            readyz_s = time.monotonic() - asked
            await asyncio.sleep(1.0)
            gateway.kill()
            outcome = await load

        restarted = serve(hang.url).start()
        restarted.wait_stored()
        restarted.stop()
    finally:
        hang.close()

    if database == "hanging":
        assert (code, ready["status"]) == (200, "degraded"), ready
        assert ready["database"].startswith("unavailable: ")
        assert ready["usage_queue_rows"] == 0  # the journal holds them, not memory
    rows = await stored_rows(db_url)
    answered = outcome.answered | {warm.headers["x-request-id"]}
    lost = answered - rows.keys()
    assert len(outcome.answered) > 50, "the load did not run"
    assert len(lost) <= WINDOW, f"{len(lost)} answered calls have no row: {sorted(lost)[:5]}"
    assert outcome.cut <= rows.keys(), "a stream cut by the kill left no row"
    interrupted = [r for r in outcome.cut if rows[r] == [(499, "gateway_interrupted")]]
    assert outcome.cut and interrupted, "no stream was in flight at the kill"
    assert all(len(found) == 1 for found in rows.values())  # one row per call, no duplicates
    report(
        f"SIGKILL under load, database {database}", database=db_url.split(":")[0],
        calls_answered=len(answered), streams_cut=len(outcome.cut),
        rows_out=len((answered | outcome.cut) & rows.keys()), rows_lost=len(lost),
        interrupted_rows=len(interrupted), duplicates=0,
        readyz_ms=round(readyz_s * 1000, 1), readyz=ready["status"],
        readyz_database=ready["database"], queue_rows=ready["usage_queue_rows"],
    )
