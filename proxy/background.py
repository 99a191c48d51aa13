"""Periodic background jobs (key cache, budgets, rollups): one loop, one failure policy.

A failing run is logged and tried again at the next tick; the job's last good state
stays in use meanwhile, so a database outage degrades freshness, never availability.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("wattgate")


class Periodic:
    def __init__(
        self,
        name: str,
        job: Callable[[], Awaitable[None]],
        *,
        interval_s: float,
        failure: str,
        run_at_start: bool = False,
    ) -> None:
        self._name = name
        self._job = job
        self._interval_s = interval_s
        self._failure = failure  # what the log says when a run fails
        self._run_at_start = run_at_start
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=self._name)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _loop(self) -> None:
        if not self._run_at_start:
            await asyncio.sleep(self._interval_s)
        while True:
            try:
                await self._job()
            except Exception as exc:
                log.warning("%s: %s", self._failure, exc)
            await asyncio.sleep(self._interval_s)
