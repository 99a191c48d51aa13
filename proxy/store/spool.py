"""The writer's safety net: usage rows the database could not take yet, as JSON lines on disk.

Replay never deletes a row before it is committed: the live file is first renamed to
`<name>.replaying` (new rows keep going to a fresh live file), the renamed file is inserted
batch by batch, and only then removed. A process that dies mid-replay leaves the renamed
file behind and the next replay starts it over; inserts skip known `event_id`s, so rows
already written are not duplicated. Rows the database refuses outright go to
`<name>.rejected` for an operator to inspect, so one bad row cannot block the others.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from proxy.store.tables import UsageEventRow, UTCDateTime

log = logging.getLogger(__name__)

_DATETIME_COLUMNS = tuple(
    c.name for c in UsageEventRow.__table__.columns if isinstance(c.type, UTCDateTime)
)


class Spool:
    """Thread-safe append/claim on one spool path; the writer does the file work in threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.replaying = path.with_name(path.name + ".replaying")
        self.rejected = path.with_name(path.name + ".rejected")
        self._lock = threading.Lock()

    def append(self, rows: Sequence[Mapping[str, Any]], *, fsync: bool = True) -> None:
        self._append(self.path, rows, fsync=fsync)

    def reject(self, rows: Sequence[Mapping[str, Any]]) -> None:
        self._append(self.rejected, rows, fsync=True)

    def _append(self, path: Path, rows: Sequence[Mapping[str, Any]], *, fsync: bool) -> None:
        data = "".join(json.dumps(row, default=_encode) + "\n" for row in rows).encode()
        with self._lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a+b") as f:
                # A crash mid-append can leave a torn last line; start on a fresh line so the
                # torn fragment does not swallow the next good row.
                if f.tell() > 0:
                    f.seek(-1, os.SEEK_END)
                    if f.read(1) != b"\n":
                        data = b"\n" + data
                f.write(data)
                f.flush()
                if fsync:
                    os.fsync(f.fileno())

    def count(self) -> int:
        """Rows waiting on disk (live file and any half-replayed one)."""
        total = 0
        for path in (self.replaying, self.path):
            if path.exists():
                with open(path, "rb") as f:
                    total += sum(1 for line in f if line.strip())
        return total

    def claim(self) -> Path | None:
        """The file to replay next: a leftover `.replaying` first, else the live file renamed."""
        with self._lock:
            if self.replaying.exists():
                return self.replaying
            if not self.path.exists() or self.path.stat().st_size == 0:
                return None
            os.replace(self.path, self.replaying)
            _fsync_dir(self.path.parent)
            return self.replaying

    def read(self, path: Path, batch_size: int) -> Iterator[tuple[list[dict[str, Any]], int]]:
        """Yield (rows, lines consumed) batches; unreadable lines are logged and skipped."""
        rows: list[dict[str, Any]] = []
        lines = 0
        with open(path, "rb") as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                lines += 1
                try:
                    rows.append(_decode(json.loads(line)))
                except (ValueError, TypeError) as exc:
                    log.error("skipping unreadable usage spool line %s:%d: %s", path, number, exc)
                if len(rows) >= batch_size:
                    yield rows, lines
                    rows, lines = [], 0
        if lines:
            yield rows, lines

    def finish(self, path: Path) -> None:
        """Remove a fully replayed file."""
        path.unlink(missing_ok=True)
        _fsync_dir(path.parent)


def _encode(value: object) -> str:
    # Anything else is a malformed row; keep it (as text) rather than fail to spool the batch.
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _decode(row: object) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise ValueError("not a JSON object")
    for name in _DATETIME_COLUMNS:
        if isinstance(row.get(name), str):
            row[name] = datetime.fromisoformat(row[name])
    return row


def _fsync_dir(directory: Path) -> None:
    """Make a rename or unlink durable, not just the file contents."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
