"""Fault tests: real `wattgate serve` processes, killed, starved and cut off from their
database, against the mock upstream.

Set `WATTGATE_FAULT_REPORT=<file>` to append each test's figures (calls in, rows out,
duplicates, rows lost) to that file as JSON lines; docs/operations.md's fault table is made
from such a run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from proxy.mock_upstream import MockOptions, create_mock_app
from proxy.store.db import create_engine
from proxy.store.usage import usage_events
from tests.faults.gateway_process import GatewayProcess
from tests.servers import ServerThread

MASTER_KEY = "wg-fault-master-key"
SLOW_STREAM_MODEL = "slow-stream"  # served by a mock that takes ~2 s per stream


@pytest.fixture(scope="session")
def upstreams() -> Iterator[tuple[str, str]]:
    """Base URLs (…/v1) of a prompt mock and of one whose streams take about two seconds."""
    fast = ServerThread(create_mock_app(MockOptions())).start()
    slow = ServerThread(create_mock_app(MockOptions(chunk_delay_ms=100))).start()
    yield fast.url + "/v1", slow.url + "/v1"
    fast.stop()
    slow.stop()


ServeFactory = Callable[..., GatewayProcess]


@pytest.fixture
def serve(upstreams: tuple[str, str], tmp_path: Path) -> Iterator[ServeFactory]:
    """Build (not start) `wattgate serve` processes on `database_url`; all sharing one journal
    and key snapshot, as restarts of one replica do. Left-over processes are killed."""
    fast, slow = upstreams
    config = tmp_path / "wattgate.yaml"
    config.write_text(f"models:\n  - name: {SLOW_STREAM_MODEL}\n    base_url: {slow}\n")
    made: list[GatewayProcess] = []

    def make(database_url: str, *, command: list[str] | None = None, **env: str) -> GatewayProcess:
        base = {
            "WATTGATE_DATABASE_URL": database_url,
            "WATTGATE_UPSTREAM_BASE_URL": fast,
            "WATTGATE_UPSTREAM_API_KEY": "sk-upstream-secret",
            "WATTGATE_MASTER_KEY": MASTER_KEY,
            "WATTGATE_CONFIG": str(config),
            "WATTGATE_SPOOL_PATH": str(tmp_path / "journal" / "usage.jsonl"),
            "WATTGATE_KEY_CACHE_TTL_S": "1",
            "WATTGATE_DATABASE_TIMEOUT_S": "0.5",
            "WATTGATE_LOG_LEVEL": "info",
        }
        process = GatewayProcess({**base, **env}, log=tmp_path / f"serve-{len(made)}.log",
                               command=command)
        made.append(process)
        return process

    yield make
    for process in made:
        process.kill()


async def stored_rows(db_url: str) -> dict[str, list[tuple[int, str | None]]]:
    """request id -> [(status, error type)] of every stored usage row."""
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            result = await conn.execute(select(
                usage_events.c.request_id, usage_events.c.status_code, usage_events.c.error_type
            ))
            rows: dict[str, list[tuple[int, str | None]]] = {}
            for r in result:
                rows.setdefault(r.request_id, []).append((r.status_code, r.error_type))
            duplicates = await conn.scalar(
                select(func.count() - func.count(usage_events.c.event_id.distinct()))
            )
            assert duplicates == 0
            return rows
    finally:
        await engine.dispose()


def report(fault: str, **figures: object) -> None:
    """Append a fault's figures to $WATTGATE_FAULT_REPORT, when set."""
    path = os.environ.get("WATTGATE_FAULT_REPORT")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"fault": fault, **figures}) + "\n")
