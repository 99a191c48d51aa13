"""The usage writer: each usage row is journaled on local disk as its call's answer
completes, then reaches the database in batches, off the request path.

    submit(row) ──journal (os.write)──> queue (bounded) ──batch, deadline──> database ─> release
                   │ unwritable: queue only     │ full, or database down: the row stays
                   │ (neither: lost, counted)   │ on disk only, replayed when it answers
    begin_stream(row) ── mark: stored as an interrupted row if the process dies first

A database that fails or does not answer within `write_timeout_s` is "unhealthy": queued
rows leave memory (the journal has them), new rows go to the journal only, and the writer
probes the database with a growing backoff; once it answers, the journal segments holding
disk-only rows are replayed (idempotently, by `event_id`) and deleted. `accepting` tells
the request path whether a new call's row can be persisted at all.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from proxy.events import UsageEvent
from proxy.store.deadline import DatabaseTimeout, within
from proxy.store.journal import Journal, Segment, encode_mark, encode_row
from proxy.store.usage import insert_events, usage_events

log = logging.getLogger(__name__)

_MIN_BACKOFF_S = 0.1
_JOURNAL_PROBE_S = 1.0  # how often an unwritable journal is tried again
_LOST_LOG_S = 1.0  # at most one "rows lost" log line per second
_LOCK_WAIT = "wattgate_sqlite_lock_wait_ms"  # connection info key: busy_timeout already set

# Errors that say "the database is not there", as opposed to "this row is refused".
_UNAVAILABLE = (DatabaseTimeout, OperationalError, InterfaceError, OSError)
_Held = tuple[dict[str, Any], Segment | None]  # a row in memory, and its journal segment


class UsageWriter:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        spool_path: Path,
        batch_size: int = 500,
        flush_interval_s: float = 0.25,
        max_queue: int = 20_000,
        max_backoff_s: float = 5.0,
        write_timeout_s: float = 2.0,
        fsync_interval_s: float = 0.01,
        probe_interval_s: float = 5.0,
        segment_bytes: int = 1 << 20,
        database_ready: bool = True,
    ) -> None:
        """`spool_path` names the journal (segments `<spool_path>.<n>` beside it, sealed at
        `segment_bytes`); `database_ready=False` journals rows only until
        `mark_database_ready()`. Times in seconds."""
        self._engine = engine
        self._journal = Journal(
            spool_path, fsync_interval_s=fsync_interval_s, segment_bytes=segment_bytes
        )
        self._batch_size = batch_size
        self._flush_interval_s = flush_interval_s
        self._max_queue = max_queue
        self._max_backoff_s = max_backoff_s
        self._write_timeout_s = write_timeout_s
        self._lock_wait_ms = int(write_timeout_s * 500)  # half the deadline, in milliseconds
        self._probe_interval_s = probe_interval_s
        self._queue: deque[_Held] = deque()
        # Streams in flight: event id -> (the row to store if the process dies, mark segment)
        self._marks: dict[str, tuple[dict[str, Any], Segment | None]] = {}
        self._wakeup = asyncio.Event()  # set by submit() and the like: work is waiting
        self._closed = asyncio.Event()  # set by close(): drain what the database takes, exit
        self._task: asyncio.Task[None] | None = None
        self._in_flight = 0
        self._spooled = 0
        self._written = 0
        self._rejected = 0
        self._lost = 0
        self._lost_logged_at = 0.0
        self._database_ready = database_ready
        self._healthy = database_ready
        self._database_error: str | None = None if database_ready else "not connected yet"
        self._reported_down = False  # a warning said the database is unreachable
        self._backoff_s = _MIN_BACKOFF_S
        self._retry_at = 0.0
        self._last_ok = time.monotonic()
        self._journal_retry_at = 0.0
        self._stopped = False  # close() has finished: later rows stay on disk for the next run
        self._recover()

    # -- what the request path and readiness read ---------------------------------------

    @property
    def accepting(self) -> bool:
        """A new call's row can be persisted: on the journal, or straight to the database."""
        return self._journal.writable or (self._usable and len(self._queue) < self._max_queue)

    @property
    def queue_size(self) -> int:
        return len(self._queue)

    @property
    def idle(self) -> bool:
        """Every row submitted so far is in the database."""
        return not (self._queue or self._in_flight or self._spooled)

    @property
    def spooled_rows(self) -> int:
        """Rows on disk only (journal segments), waiting for the database."""
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
    def lost_rows(self) -> int:
        """Rows dropped because neither the journal nor memory could hold them."""
        return self._lost

    @property
    def healthy(self) -> bool:
        """Whether the database took the last write or probe (within the deadline)."""
        return self._healthy

    @property
    def database_error(self) -> str | None:
        """Why the database is treated as unreachable; None while it is healthy."""
        return self._database_error

    @property
    def journal_error(self) -> str | None:
        """Why the journal cannot be written; None while it can."""
        return None if self._journal.writable else self._journal.error

    @property
    def journal_bytes(self) -> int:
        return self._journal.bytes

    @property
    def open_streams(self) -> int:
        """Streams marked in the journal whose row is not recorded yet."""
        return len(self._marks)

    # -- the request path ---------------------------------------------------------------

    def submit(self, event: UsageEvent) -> None:
        """Journal a call's row and queue it for the database. Never blocks on the database
        and never raises; the row is on disk (in the OS) when this returns, if it can be."""
        try:
            row = event.to_row()
            if self._marks:
                self._close_mark(row["event_id"])
            self._hold(row, self._append(encode_row(row)))
        except Exception:
            log.exception("could not record usage event %s", getattr(event, "event_id", "?"))

    def begin_stream(self, interrupted: UsageEvent) -> None:
        """Mark a stream in flight. `interrupted` is the row to store if this process dies
        before a row with the same `event_id` is submitted; that submit closes the mark."""
        try:
            row = interrupted.to_row()
            segment = self._append(encode_mark(row), rows=0)
            if segment is not None:
                segment.open_marks += 1
            self._marks[row["event_id"]] = (row, segment)
        except Exception:
            log.exception("could not mark stream %s", getattr(interrupted, "event_id", "?"))

    # -- life cycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Replay what earlier runs left (if the database is ready), then write in the
        background."""
        self._journal.start()
        if self._database_ready:
            while self._usable and (segment := self._next_replay()) is not None:
                await self._replay(segment)
        self._task = asyncio.create_task(self._run(), name="usage-writer")

    def mark_database_ready(self) -> None:
        """The schema is in place: start writing to the database (probing it first)."""
        self._database_ready = True
        self._retry_at = 0.0
        self._wakeup.set()

    async def close(self) -> None:
        """Write out what the database takes in time, keep the rest on disk, and stop.

        Streams still marked are recorded as interrupted."""
        for row, _ in list(self._marks.values()):
            self._close_mark(row["event_id"])
            self._hold(row, self._append(encode_row(row)))
        self._closed.set()
        self._wakeup.set()
        if self._task is None:
            await self._run()
        else:
            await self._task
        if not self._journal.writable:
            self._journal.probe()
        self._journal_held()
        self._park(list(self._queue))
        self._queue.clear()
        self._seal()
        self._journal.close()
        self._stopped = True

    async def wait_idle(self, timeout: float = 5.0) -> None:
        """Wait until every row submitted so far is in the database; TimeoutError otherwise."""
        async with asyncio.timeout(timeout):
            while not self.idle:
                await asyncio.sleep(0.01)

    # -- journal ------------------------------------------------------------------------

    def _recover(self) -> None:
        recovered = self._journal.recover()
        self._spooled = sum(s.disk_only for s in recovered.segments)
        if self._spooled or recovered.interrupted:
            log.info("usage journal: %d rows left by an earlier run, %d streams cut short",
                     self._spooled, len(recovered.interrupted))
        for row in recovered.interrupted:
            self._hold(row, self._append(encode_row(row)))
        for segment in recovered.segments:
            self._journal.release(segment)  # nothing but marks, now journaled as rows

    def _append(self, data: bytes, rows: int = 1) -> Segment | None:
        """Write lines to the journal; None when it cannot be written (tried again later)."""
        if not self._journal.writable:
            return None
        if self._journal.full:
            self._seal()
        try:
            return self._journal.append(data, rows)
        except OSError:
            return None

    def _seal(self) -> None:
        """Seal the live segment, deleting it at once if nothing in it is needed any more."""
        live = next((s for s in self._journal.segments() if not s.sealed), None)
        self._journal.seal()
        if live is not None:
            self._journal.release(live)

    def _close_mark(self, event_id: str) -> None:
        """A stream's row is recorded: its mark no longer keeps its segment."""
        _, segment = self._marks.pop(event_id, (None, None))
        if segment is not None:
            segment.open_marks -= 1
            self._journal.release(segment)

    def _retry_journal(self) -> None:
        """Probe an unwritable journal; once it takes data again, journal the rows held in
        memory meanwhile."""
        self._journal_retry_at = time.monotonic() + _JOURNAL_PROBE_S
        if not self._journal.probe():
            return
        log.info("usage journal writable again")
        self._journal_held()
        if not self._accepts_rows:
            self._park(self._drain_queue())

    def _journal_held(self) -> None:
        """Journal the rows that reached memory while the journal could not be written."""
        if self._journal.writable and any(segment is None for _, segment in self._queue):
            self._queue = deque(
                (row, segment or self._append(encode_row(row))) for row, segment in self._queue
            )

    # -- memory -------------------------------------------------------------------------

    @property
    def _usable(self) -> bool:
        """The database takes writes (as far as the last attempt showed)."""
        return self._database_ready and self._healthy

    @property
    def _accepts_rows(self) -> bool:
        """New journaled rows go to the queue (else they wait on disk for a replay)."""
        return self._usable and not self._closed.is_set()

    def _hold(self, row: dict[str, Any], segment: Segment | None) -> None:
        """Queue a row for the database, or leave it on disk only, or count it lost."""
        if not self._stopped and (segment is None or self._accepts_rows):
            if len(self._queue) < self._max_queue:
                self._queue.append((row, segment))
                self._wakeup.set()
                return
        if segment is None:
            self._lose(1, "neither the journal nor the queue can hold it")
            return
        segment.disk_only += 1
        self._spooled += 1

    def _park(self, held: Sequence[_Held]) -> None:
        """Rows leaving memory: journaled ones stay on disk only; the others are lost."""
        unjournaled = 0
        for _, segment in held:
            if segment is None or segment.gone or segment.replayed:
                unjournaled += segment is None  # (the others are in the database already)
                continue
            segment.disk_only += 1
            self._spooled += 1
        if unjournaled:
            self._lose(unjournaled, "neither the database nor the journal could take them")

    def _drain_queue(self) -> list[_Held]:
        """Take the journaled rows out of memory; unjournaled ones stay queued."""
        journaled = [held for held in self._queue if held[1] is not None]
        if journaled:
            self._queue = deque(held for held in self._queue if held[1] is None)
        return journaled

    def _lose(self, rows: int, why: str) -> None:
        self._lost += rows
        now = time.monotonic()
        if now - self._lost_logged_at >= _LOST_LOG_S:
            self._lost_logged_at = now
            log.error("LOST usage rows (%d in total): %s", self._lost, why)

    # -- the background loop ------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            await self._wait_for_work()
            closing = self._closed.is_set()
            if self._usable:
                batch = self._take_batch()
                if batch:
                    await self._store(batch)
                elif closing:
                    return
                if self._accepts_rows and (segment := self._next_replay()) is not None:
                    await self._replay(segment)  # a backlog drains between live batches
                elif not batch and time.monotonic() - self._last_ok >= self._probe_interval_s:
                    await self._probe()
            elif closing:
                return
            elif self._database_ready and time.monotonic() >= self._retry_at:
                await self._try_again()
            if not self._journal.writable and time.monotonic() >= self._journal_retry_at:
                self._retry_journal()

    async def _wait_for_work(self) -> None:
        if self._closed.is_set() or (self._usable and self._next_replay() is not None):
            return
        if not (self._queue and self._usable):
            self._wakeup.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._until_due())
        if self._usable and 0 < len(self._queue) < self._batch_size:
            # Give a trickle of requests a moment to fill the batch: fewer, larger inserts.
            with suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), self._flush_interval_s)

    def _until_due(self) -> float | None:
        """Seconds until the loop has something to do without being woken (None: never)."""
        due: list[float] = []
        if self._usable:
            due.append(self._last_ok + self._probe_interval_s)
        elif self._database_ready:
            due.append(self._retry_at)
        if not self._journal.writable:
            due.append(self._journal_retry_at)
        return max(0.0, min(due) - time.monotonic()) if due else None

    async def _try_again(self) -> None:
        """One attempt on an unhealthy database; a write when there is one to make, since a
        database can answer reads and still not take writes (SQLite behind a write lock)."""
        if (segment := self._next_replay()) is not None:
            await self._replay(segment)
        elif batch := self._take_batch():
            await self._store(batch)
        else:
            await self._probe()

    def _take_batch(self) -> list[_Held]:
        batch: list[_Held] = []
        while len(batch) < self._batch_size and self._queue:
            batch.append(self._queue.popleft())
        self._in_flight = len(batch)
        return batch

    def _next_replay(self) -> Segment | None:
        return next((s for s in self._journal.segments() if s.disk_only), None)

    async def _store(self, batch: list[_Held]) -> None:
        try:
            await self._insert([row for row, _ in batch])
        except asyncio.CancelledError:
            self._park(batch)  # stopped without close(): the journal keeps the rows
            raise
        except Exception as exc:
            self._queue.extendleft(reversed([held for held in batch if held[1] is None]))
            self._park([held for held in batch if held[1] is not None])
            self._failed(exc)
        else:
            self._succeeded()
            for _, segment in batch:
                if segment is not None:
                    segment.stored += 1
                    self._journal.release(segment)
        finally:
            self._in_flight = 0

    async def _replay(self, segment: Segment) -> None:
        """Insert a segment's rows from disk, batch by batch; delete it once all are in."""
        if not segment.sealed:
            self._seal()
        batches = self._journal.read_rows(segment, self._batch_size)
        try:
            while (rows := await asyncio.to_thread(next, batches, None)) is not None:
                await self._insert(rows)
        except Exception as exc:
            self._failed(exc)
            return
        finally:
            batches.close()
        self._spooled = max(0, self._spooled - segment.disk_only)
        log.info("replayed %d journaled usage rows from %s", segment.disk_only, segment.path)
        segment.disk_only = 0
        segment.replayed = True
        self._journal.release(segment)
        self._succeeded()

    async def _insert(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert a batch. If it fails while the table is reachable, the fault is in the rows:
        insert them one by one and set aside those refused, so they cannot block the rest."""
        try:
            await within(self._write_timeout_s, self._insert_now(rows), what="usage insert")
        except DatabaseTimeout:
            raise
        except Exception:
            if not await self._table_reachable():
                raise
        else:
            self._written += len(rows)
            return
        for row in rows:
            try:
                await within(self._write_timeout_s, self._insert_now([row]),
                             what="usage insert")
            except Exception as exc:
                if isinstance(exc, _UNAVAILABLE) or (
                    isinstance(exc, DBAPIError) and exc.connection_invalidated
                ):
                    raise  # the database went away meanwhile: keep the rows for later
                log.error("usage row %s refused, kept in %s: %r", row.get("event_id"),
                          self._journal.rejected, exc)
                await asyncio.to_thread(self._journal.reject, [row])
                self._rejected += 1
            else:
                self._written += 1

    async def _insert_now(self, rows: Sequence[Mapping[str, Any]]) -> None:
        async with self._engine.begin() as conn:
            if conn.dialect.name == "sqlite" and conn.info.get(_LOCK_WAIT) != self._lock_wait_ms:
                # SQLite must stop waiting for its write lock before the deadline cancels the
                # statement: a statement cancelled while it waits can go on to take the lock
                # and keep it, wedging every later writer. (Set once per pooled connection.)
                await conn.exec_driver_sql(f"PRAGMA busy_timeout = {self._lock_wait_ms}")
                conn.info[_LOCK_WAIT] = self._lock_wait_ms
            await insert_events(conn, rows)

    async def _table_reachable(self) -> bool:
        try:
            await within(self._write_timeout_s, self._select_nothing(), what="usage table probe")
        except Exception:
            return False
        return True

    async def _select_nothing(self) -> None:
        async with self._engine.connect() as conn:
            await conn.execute(select(usage_events.c.id).limit(0))

    async def _probe(self) -> None:
        try:
            await within(self._write_timeout_s, self._select_nothing(), what="database probe")
        except Exception as exc:
            self._failed(exc)
        else:
            self._succeeded()

    def _failed(self, exc: Exception) -> None:
        if self._healthy or not self._reported_down:
            log.warning("usage database unreachable (%r); journaling rows until it answers", exc)
            self._reported_down = True
        self._healthy = False
        self._database_error = _describe(exc)
        self._retry_at = time.monotonic() + self._backoff_s
        self._backoff_s = min(self._backoff_s * 2, self._max_backoff_s)
        self._park(self._drain_queue())

    def _succeeded(self) -> None:
        if self._reported_down:
            log.info("usage database writes recovered")
            self._reported_down = False
        self._healthy = True
        self._database_error = None
        self._backoff_s = _MIN_BACKOFF_S
        self._last_ok = time.monotonic()


def _describe(exc: Exception) -> str:
    """A short reason for readiness, without SQL or row values ("database is locked",
    "usage insert took longer than 2 s", "ConnectionRefusedError")."""
    if isinstance(exc, DatabaseTimeout):
        return str(exc)
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    message = str(cause).strip().splitlines()[0][:200] if str(cause).strip() else ""
    return f"{type(cause).__name__}: {message}" if message else type(cause).__name__
