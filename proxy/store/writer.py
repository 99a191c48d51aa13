"""The batch writer: usage rows leave the request path through a queue and reach the database
in multi-row inserts. When the database is down they go to a spool file and are replayed once
it is back, so a call is never lost because its row could not be written.

    submit() -> queue -> batch -> insert_events ─ok─> database
                  │full            ├─error─> spool ──replay (backoff)──┘
                  └────────────────┤
                                   └─row refused by a healthy database─> spool.rejected
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from proxy.events import UsageEvent
from proxy.store.spool import Spool
from proxy.store.usage import insert_events, usage_events

log = logging.getLogger(__name__)

_MIN_BACKOFF_S = 0.1


class UsageWriter:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        spool_path: Path,
        batch_size: int = 500,
        flush_interval_s: float = 0.25,
        max_queue: int = 100_000,
        max_backoff_s: float = 5.0,
    ) -> None:
        self._engine = engine
        self._spool = Spool(spool_path)
        self._batch_size = batch_size
        self._flush_interval_s = flush_interval_s
        self._max_backoff_s = max_backoff_s
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(max_queue)
        self._wakeup = asyncio.Event()  # set by submit(): rows are waiting
        self._closed = asyncio.Event()  # set by close(): stop lingering, drain, exit
        self._task: asyncio.Task[None] | None = None
        self._in_flight = 0
        self._spooled = 0
        self._written = 0
        self._rejected = 0
        self._healthy = True
        self._backoff_s = _MIN_BACKOFF_S
        self._retry_at = 0.0

    @property
    def queue_size(self) -> int:
        return self._queue.qsize()

    @property
    def idle(self) -> bool:
        """Every row submitted so far is in the database."""
        return not (self._queue.qsize() or self._in_flight or self._spooled)

    @property
    def spooled_rows(self) -> int:
        """Rows waiting in the spool file for the database to come back."""
        return self._spooled

    @property
    def written_rows(self) -> int:
        """Rows committed by this writer (replayed rows included, even if already stored)."""
        return self._written

    @property
    def rejected_rows(self) -> int:
        """Rows the database refused outright, set aside in `<spool>.rejected`."""
        return self._rejected

    @property
    def healthy(self) -> bool:
        """Whether the last database write succeeded."""
        return self._healthy

    def submit(self, event: UsageEvent) -> None:
        """Hand a row to the writer. Never blocks on the database and never raises."""
        try:
            row = event.to_row()
            if not self._closed.is_set():
                try:
                    self._queue.put_nowait(row)
                except asyncio.QueueFull:
                    pass
                else:
                    self._wakeup.set()
                    return
            # Overloaded or closed: straight to disk. No fsync here, to keep the request path
            # fast; the OS still has the row if the process dies, and the next fsync'd
            # append or replay makes it durable.
            self._spool.append([row], fsync=False)
            self._spooled += 1
        except Exception:
            log.exception("could not record usage event %s", getattr(event, "event_id", "?"))

    async def start(self) -> None:
        """Replay rows spooled by a previous run, then start writing in the background."""
        self._spooled = await asyncio.to_thread(self._spool.count)
        if self._spooled:
            log.info("replaying %d spooled usage rows", self._spooled)
            await self._replay()
        self._task = asyncio.create_task(self._run(), name="usage-writer")

    async def close(self) -> None:
        """Write out everything queued (to the database, or the spool if it is down) and stop."""
        self._closed.set()
        self._wakeup.set()
        if self._task is None:
            await self._run()
        else:
            await self._task

    async def wait_idle(self, timeout: float = 5.0) -> None:
        """Wait until every row submitted so far is in the database; TimeoutError otherwise."""
        async with asyncio.timeout(timeout):
            while not self.idle:
                await asyncio.sleep(0.01)

    async def _run(self) -> None:
        while not (self._closed.is_set() and self._queue.empty()):
            await self._wait_for_rows()
            batch = self._take_batch()
            if batch:
                await self._store(batch)
            if self._spooled and time.monotonic() >= self._retry_at:
                await self._replay()

    async def _wait_for_rows(self) -> None:
        if self._queue.empty() and not self._closed.is_set():
            self._wakeup.clear()
            timeout = max(0.0, self._retry_at - time.monotonic()) if self._spooled else None
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout)
        if 0 < self._queue.qsize() < self._batch_size and not self._closed.is_set():
            # Give a trickle of requests a moment to fill the batch: fewer, larger inserts.
            with suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), self._flush_interval_s)

    def _take_batch(self) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        while len(batch) < self._batch_size and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        self._in_flight = len(batch)
        return batch

    async def _store(self, batch: list[dict[str, Any]]) -> None:
        try:
            if self._healthy or time.monotonic() >= self._retry_at:
                try:
                    await self._insert(batch)
                except Exception as exc:
                    self._failed(exc)
                else:
                    self._recovered()
                    return
            await self._to_spool(batch)
        except asyncio.CancelledError:
            # Cancelled mid-write (shutdown without close()): keep the rows on disk.
            self._spool_sync(batch)
            raise
        finally:
            self._in_flight = 0

    async def _to_spool(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if await asyncio.to_thread(self._write_spool, rows):
            self._spooled += len(rows)

    def _spool_sync(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if self._write_spool(rows):
            self._spooled += len(rows)

    def _write_spool(self, rows: Sequence[Mapping[str, Any]]) -> bool:
        # The counter is updated by the callers, on the event loop thread.
        try:
            self._spool.append(rows)
        except Exception:
            log.exception("LOST %d usage rows: cannot write spool %s", len(rows), self._spool.path)
            return False
        return True

    async def _replay(self) -> None:
        """Insert one spool file, batch by batch; on failure keep it for the next attempt."""
        path = await asyncio.to_thread(self._spool.claim)
        if path is None:
            self._spooled = 0
            return
        batches = self._spool.read(path, self._batch_size)
        replayed = 0
        try:
            while (item := await asyncio.to_thread(next, batches, None)) is not None:
                rows, lines = item
                await self._insert(rows)
                replayed += lines
            await asyncio.to_thread(self._spool.finish, path)
        except Exception as exc:
            self._failed(exc)
            return
        finally:
            batches.close()
        self._spooled = max(0, self._spooled - replayed)
        self._recovered()
        log.info("replayed %d spooled usage rows from %s", replayed, path)

    async def _insert(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert a batch. If it fails while the table is reachable, the fault is in the rows:
        insert them one by one and set aside those refused, so they cannot block the rest."""
        try:
            await insert_events(self._engine, rows)
        except Exception:
            if not await self._table_reachable():
                raise
        else:
            self._written += len(rows)
            return
        for row in rows:
            try:
                await insert_events(self._engine, [row])
            except Exception as exc:
                if isinstance(exc, (OperationalError, InterfaceError, OSError)) or (
                    isinstance(exc, DBAPIError) and exc.connection_invalidated
                ):
                    raise  # the database went away meanwhile: spool the batch and retry later
                event_id = row.get("event_id")
                log.error(
                    "usage row %s refused, kept in %s: %r", event_id, self._spool.rejected, exc
                )
                await asyncio.to_thread(self._spool.reject, [row])
                self._rejected += 1
            else:
                self._written += 1

    async def _table_reachable(self) -> bool:
        try:
            async with self._engine.connect() as conn:
                await conn.execute(select(usage_events.c.id).limit(0))
        except Exception:
            return False
        return True

    def _failed(self, exc: Exception) -> None:
        if self._healthy:
            log.warning("usage database write failed, spooling to %s: %r", self._spool.path, exc)
        self._healthy = False
        self._retry_at = time.monotonic() + self._backoff_s
        self._backoff_s = min(self._backoff_s * 2, self._max_backoff_s)

    def _recovered(self) -> None:
        if not self._healthy:
            log.info("usage database writes recovered")
        self._healthy = True
        self._backoff_s = _MIN_BACKOFF_S
