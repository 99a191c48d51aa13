"""The usage journal: every usage row reaches local disk before the database has it.

    append() ──os.write──> live segment `<path>.<n>` ──sealed at segment_bytes──> deleted once
                 │          (in the OS: survives a             the database has all its rows,
                 │           killed process)                   else replayed from the file
                 └─ group commit thread: fdatasync at most every `fsync_interval_s`
                    (survives a power cut or kernel crash from then on)

Segments are files of JSON lines next to `path`, named `<path name>.<8-digit number>`. A line
is either a usage row (`usage_events` columns) or a stream mark `{"stream_begin": <row>}`:
the row to store for a stream that was still running when its process died. A stream's own
row, journaled when it ends, closes its mark (same `event_id`); a segment holding the mark
of a running stream is kept until the stream ends.

On start `recover()` reads what a previous process left (segments, and the single spool file
and `.replaying` file of older versions) and turns every mark that its row never closed into
an interrupted-stream row. Replays insert by `event_id` and skip known ids, so replaying a
segment twice, or a row the database already has, never duplicates it. Rows the database
refuses outright go to `<path name>.rejected` for an operator to inspect.

The journal is used from the event loop's thread only; the group-commit thread touches file
descriptors alone.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from proxy.store.tables import UsageEventRow, UTCDateTime

log = logging.getLogger(__name__)

MARK_KEY = "stream_begin"
_MARK_PREFIX = b'{"' + MARK_KEY.encode() + b'":'
_EVENT_ID = re.compile(rb'"event_id":\s*"([^"\\]*)"')
_SEGMENT_DIGITS = 8
_PROBE = b" " * 4095 + b"\n"  # a blank line the size of a few rows: replays skip it
_DATETIME_COLUMNS = tuple(
    c.name for c in UsageEventRow.__table__.columns if isinstance(c.type, UTCDateTime)
)


def encode_row(row: Mapping[str, Any]) -> bytes:
    """One journal line for a usage row (anything JSON cannot hold is kept as text)."""
    return orjson.dumps(row, default=str, option=orjson.OPT_APPEND_NEWLINE)


def encode_mark(row: Mapping[str, Any]) -> bytes:
    """One journal line marking a stream in flight; `row` is what to store if it never ends."""
    return orjson.dumps({MARK_KEY: row}, default=str, option=orjson.OPT_APPEND_NEWLINE)


@dataclass(eq=False, slots=True)
class Segment:
    """One journal file and what is known about its rows."""

    number: int
    path: Path
    size: int = 0  # bytes written
    rows: int = 0  # usage rows in the file (marks not counted)
    stored: int = 0  # rows the database confirmed while they were still in memory
    disk_only: int = 0  # rows no longer in memory: the file must be replayed
    replayed: bool = False  # every row was inserted from the file
    open_marks: int = 0  # marks of streams still running: the file must stay
    sealed: bool = False  # no more appends
    gone: bool = False  # deleted

    @property
    def settled(self) -> bool:
        """Sealed, every row in the database and no stream still marked: the file can go."""
        return (
            self.sealed and not self.open_marks and not self.disk_only
            and (self.replayed or self.stored >= self.rows)
        )


@dataclass(slots=True)
class Recovered:
    """What previous processes left: segments to replay, and rows of their cut streams."""

    segments: list[Segment] = field(default_factory=list)
    interrupted: list[dict[str, Any]] = field(default_factory=list)


class Journal:
    def __init__(
        self, path: Path, *, fsync_interval_s: float = 0.01, segment_bytes: int = 1 << 20
    ) -> None:
        self.path = path
        self.rejected = path.with_name(path.name + ".rejected")
        self._segment_bytes = segment_bytes
        self._segments: list[Segment] = []
        self._live: Segment | None = None
        self._fd = -1
        self._next_number = 1
        self._torn = False  # the last write stopped mid-line: start the next on a fresh line
        self._error: str | None = None
        self._sync = _GroupCommit(fsync_interval_s)

    @property
    def writable(self) -> bool:
        """False after a failed write, until a probe or a later write succeeds."""
        return self._error is None and self._sync.error is None

    @property
    def error(self) -> str | None:
        return self._error or self._sync.error

    @property
    def bytes(self) -> int:
        """Size of every segment still on disk."""
        return sum(s.size for s in self._segments)

    @property
    def full(self) -> bool:
        """The live segment has reached its size: seal it before the next append."""
        return self._live is not None and self._live.size >= self._segment_bytes

    def segments(self) -> list[Segment]:
        """Segments still on disk, oldest first."""
        return list(self._segments)

    def recover(self) -> Recovered:
        """Take over what earlier processes left; call once, before the first append."""
        found: dict[int, Path] = {}
        legacy = [self.path.with_name(self.path.name + ".replaying"), self.path]
        for number, path in enumerate(legacy, start=-len(legacy)):
            if path.is_file():
                found[number] = path
        pattern = re.compile(re.escape(self.path.name) + r"\.(\d{" + str(_SEGMENT_DIGITS) + "})$")
        if self.path.parent.is_dir():
            for path in self.path.parent.iterdir():
                if match := pattern.match(path.name):
                    found[int(match.group(1))] = path
        recovered = Recovered()
        marks: dict[str, dict[str, Any]] = {}
        for number in sorted(found):
            segment = Segment(number, found[number], sealed=True)
            segment.size = segment.path.stat().st_size
            segment.rows = _scan(segment.path, marks)
            segment.disk_only = segment.rows
            recovered.segments.append(segment)
            self._next_number = max(self._next_number, number + 1)
        recovered.interrupted = list(marks.values())
        self._segments = list(recovered.segments)
        return recovered

    def start(self) -> None:
        """Start group commits (until then, and after `close()`, appends sync at once)."""
        self._sync.start()

    def append(self, data: bytes, rows: int = 1) -> Segment:
        """Write `data` (whole lines holding `rows` usage rows) to the live segment.

        Raises OSError (and the journal turns unwritable) when the bytes cannot be written.
        """
        segment = self._live if self._live is not None else self._open_segment()
        if self._torn:
            data = b"\n" + data
        try:
            written = os.write(self._fd, data)
        except OSError as exc:
            self._fail(exc)
            raise
        if written != len(data):  # only a full disk or a file size limit cuts a file write
            segment.size += written
            self._torn = True
            exc = OSError(errno.ENOSPC, f"short write ({written} of {len(data)} bytes)")
            self._fail(exc)
            raise exc
        self._torn = False
        segment.size += written
        segment.rows += rows
        self._sync.dirty()
        return segment

    def probe(self) -> bool:
        """Try to write again after a failure; True (and writable) if a test line fits."""
        self._error = None
        self._sync.error = None
        try:
            self.append(_PROBE, rows=0)
        except OSError:
            return False
        return True

    def seal(self) -> None:
        """Close the live segment to appends; the next append opens a new one."""
        if self._live is None:
            return
        self._live.sealed = True
        self._live = None
        self._sync.retire(self._fd)
        self._fd = -1

    def release(self, segment: Segment) -> None:
        """Delete `segment` once it is settled (see `Segment.settled`)."""
        if segment.gone or not segment.settled:
            return
        segment.gone = True
        self._segments.remove(segment)
        try:
            segment.path.unlink(missing_ok=True)
        except OSError as exc:  # a read-only volume: the rows will simply be replayed again
            log.warning("could not delete journal segment %s: %s", segment.path, exc)

    def read_rows(self, segment: Segment, batch_size: int) -> Iterator[list[dict[str, Any]]]:
        """The usage rows of a segment, in batches; marks, blank and unreadable lines skipped."""
        rows: list[dict[str, Any]] = []
        with open(segment.path, "rb") as f:
            for number, line in enumerate(f, start=1):
                if not line.strip() or line.startswith(_MARK_PREFIX):
                    continue
                try:
                    rows.append(decode_row(orjson.loads(line)))
                except (ValueError, TypeError) as exc:
                    log.error("skipping unreadable journal line %s:%d: %s", segment.path, number,
                              exc)
                if len(rows) >= batch_size:
                    yield rows
                    rows = []
        if rows:
            yield rows

    def reject(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Set rows the database refuses aside, for an operator (fsync'd at once)."""
        with open(self.rejected, "ab") as f:
            f.write(b"".join(encode_row(row) for row in rows))
            f.flush()
            os.fsync(f.fileno())

    def close(self) -> None:
        """Stop the group-commit thread after a last sync; later appends sync at once."""
        self._sync.stop()

    def _open_segment(self) -> Segment:
        number = self._next_number
        path = self.path.with_name(f"{self.path.name}.{number:0{_SEGMENT_DIGITS}d}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            self._fail(exc)
            raise
        self._next_number += 1
        self._fd = fd
        self._torn = False
        self._live = Segment(number, path)
        self._segments.append(self._live)
        self._sync.adopt(fd, path.parent)
        return self._live

    def _fail(self, exc: OSError) -> None:
        if self._error is None:
            log.error("usage journal %s is not writable: %s", self.path, exc)
        self._error = exc.strerror or str(exc)
        self.seal()  # a later attempt starts a fresh file (a volume may come back)


class _GroupCommit:
    """A thread that makes written journal bytes durable: one fdatasync per interval at most.

    The event loop only sets a flag per append. The thread wakes every interval, syncs the
    live file if it was written (and retired files, which it then closes, and the directory
    of newly created files), and parks after a second without writes until the next one.
    Few wake-ups matter: each costs the event loop's thread a turn at the GIL.
    """

    _PARK_AFTER_S = 1.0

    def __init__(self, interval_s: float) -> None:
        self._interval_s = interval_s
        self._dirty = False
        self._parked = False
        self._unpark = threading.Event()
        self._lock = threading.Lock()
        self._live_fd = -1
        self._retired: list[int] = []
        self._new_dirs: set[Path] = set()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.error: str | None = None  # the last failed sync: written rows may not be durable

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="wattgate-journal", daemon=True)
        self._thread.start()

    def dirty(self) -> None:
        if self._thread is None:
            self._sync_once()  # not started, or stopped: sync in the caller
            return
        self._dirty = True
        if self._parked:
            self._parked = False
            self._unpark.set()

    def adopt(self, fd: int, directory: Path) -> None:
        with self._lock:
            self._live_fd = fd
            self._new_dirs.add(directory)

    def retire(self, fd: int) -> None:
        with self._lock:
            if fd == self._live_fd:
                self._live_fd = -1
            self._retired.append(fd)
        self.dirty()

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping = True
        self._unpark.set()
        thread.join()
        self._stopping = False
        self._sync_once()

    def _run(self) -> None:
        idle_s = 0.0
        while not self._stopping:
            time.sleep(self._interval_s)  # appends made meanwhile join this commit
            if self._dirty:
                self._dirty = False
                idle_s = 0.0
                self._sync_once()
                continue
            idle_s += self._interval_s
            if idle_s >= self._PARK_AFTER_S:
                self._unpark.clear()
                self._parked = True
                if not self._dirty:  # an append that raced the parking wakes us at once
                    self._unpark.wait()
                self._parked = False
                idle_s = 0.0

    def _sync_once(self) -> None:
        with self._lock:
            live, retired, dirs = self._live_fd, self._retired, self._new_dirs
            self._retired, self._new_dirs = [], set()
        try:
            for fd in retired:
                try:
                    os.fdatasync(fd)
                finally:
                    os.close(fd)
            if live >= 0:
                os.fdatasync(live)
            for directory in dirs:
                fsync_dir(directory)
        except OSError as exc:
            if self.error is None:
                log.error("usage journal sync failed: %s", exc)
            self.error = exc.strerror or str(exc)


def _scan(path: Path, marks: dict[str, dict[str, Any]]) -> int:
    """Count a leftover file's rows; open each stream mark and close it when its row shows up."""
    rows = 0
    with open(path, "rb") as f:
        for line in f:
            if line.startswith(_MARK_PREFIX):
                try:
                    row = decode_row(orjson.loads(line)[MARK_KEY])
                    marks[str(row["event_id"])] = row
                except (ValueError, TypeError, KeyError) as exc:
                    log.error("skipping unreadable stream mark in %s: %s", path, exc)
                continue
            if not line.strip():
                continue
            rows += 1
            if marks and (match := _EVENT_ID.search(line)):
                marks.pop(match.group(1).decode(), None)
    return rows


def decode_row(row: object) -> dict[str, Any]:
    """A journal line's JSON object back into `usage_events` values (timestamps parsed)."""
    if not isinstance(row, dict):
        raise ValueError("not a JSON object")
    for name in _DATETIME_COLUMNS:
        if isinstance(row.get(name), str):
            row[name] = datetime.fromisoformat(row[name])
    return row


def fsync_dir(directory: Path) -> None:
    """Make a file's creation, rename or removal durable, not just its contents."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
