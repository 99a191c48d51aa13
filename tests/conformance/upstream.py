"""A recording upstream: a raw HTTP/1.1 server on loopback that sees the real bytes.

No framework sits between the socket and the capture, so what a test reads is exactly what
arrived: the request line with its target as sent (percent-encoding untouched), every
header line in order with its original case and its repeats, and the body (de-chunked, and
whether it came chunked). Answers are scripted per test: a `Script` is any callable from
the `Capture` to a `Reply`, so an answer can depend on the request the way a real server's
does (an OpenAI server adds a usage chunk only when `stream_options.include_usage` asks).

A `Reply` is a status line, header lines and a body given as pieces, each sent after its
own delay, framed with `Content-Length` or `Transfer-Encoding: chunked` (one chunk per
piece). The server also notes when each piece went out and when the client closed the
connection, so tests can measure streaming latency and cancellation.

The server runs its own event loop in a daemon thread; all times are `time.monotonic()`,
the same clock the tests read.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import traceback
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from tests.conformance.encodings import decode


@dataclass(frozen=True, slots=True)
class Piece:
    """Part of a reply body: `data` is written `delay_s` seconds after the previous piece."""

    data: bytes
    delay_s: float = 0.0


@dataclass(slots=True)
class Reply:
    """A scripted answer. `headers` are sent as given (case, order, repeats); the framing
    header (`Content-Length` or `Transfer-Encoding: chunked`) is added after them."""

    status: int
    headers: list[tuple[str, str]]
    pieces: list[Piece]
    framing: Literal["length", "chunked"] = "length"
    head_delay_s: float = 0.0  # wait before the status line (a slow non-streamed answer)
    reason: str = "OK"


class _Connection:
    """One client connection: a buffer filled by a reader task, and when the client left."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader
        self.buffer = bytearray()
        self.closed_at: float | None = None
        self.changed = asyncio.Event()
        self.closed = asyncio.Event()

    async def pump(self) -> None:
        try:
            while data := await self.reader.read(65536):
                self.buffer += data
                self.changed.set()
        except (ConnectionError, OSError):
            pass
        self.closed_at = time.monotonic()
        self.closed.set()
        self.changed.set()

    async def read_until(self, marker: bytes) -> bytes | None:
        while (end := self.buffer.find(marker)) == -1:
            if self.closed.is_set():
                return None
            self.changed.clear()
            await self.changed.wait()
        data = bytes(self.buffer[: end + len(marker)])
        del self.buffer[: end + len(marker)]
        return data

    async def read_exactly(self, n: int) -> bytes | None:
        while len(self.buffer) < n:
            if self.closed.is_set():
                return None
            self.changed.clear()
            await self.changed.wait()
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        return data

    async def sleep(self, delay_s: float) -> bool:
        """Wait `delay_s`; False if the client closed the connection meanwhile."""
        if delay_s <= 0:
            return not self.closed.is_set()
        try:
            await asyncio.wait_for(self.closed.wait(), timeout=delay_s)
        except TimeoutError:
            return True
        return False


@dataclass(slots=True)
class Capture:
    """One request as it arrived, and what became of its reply."""

    method: str
    target: str  # the request-target exactly as sent (latin-1)
    version: str
    header_lines: list[tuple[str, str]]  # (name as sent, value), in order, repeats kept
    body: bytes  # after de-chunking; still content-encoded if the client encoded it
    chunked: bool
    arrived_at: float
    sent_at: list[float] = field(default_factory=list)  # when each reply piece was written
    finished_at: float | None = None  # when the reply was fully written
    _connection: _Connection | None = field(default=None, repr=False)

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def client_closed_at(self) -> float | None:
        """When the client closed this request's connection (None while it is open)."""
        return self._connection.closed_at if self._connection else None

    def headers(self, name: str) -> list[str]:
        """Every value sent under `name` (case-insensitive), in order."""
        low = name.lower()
        return [v for k, v in self.header_lines if k.lower() == low]

    def header(self, name: str) -> str | None:
        values = self.headers(name)
        return values[-1] if values else None

    def decoded_body(self) -> bytes:
        """The body with its `Content-Encoding` undone (see `tests.conformance.encodings`)."""
        return decode(self.header("content-encoding"), self.body)

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.decoded_body())
        except (ValueError, zlib.error, OSError):
            return None


Script = Callable[[Capture], Reply]


def no_script(capture: Capture) -> Reply:
    body = json.dumps({"error": {"message": f"no script for {capture.method} {capture.target}",
                                 "type": "test_setup"}}).encode()
    return Reply(599, [("Content-Type", "application/json")], [Piece(body)], reason="No Script")


class RecordingUpstream:
    """The server. `script(handler)` sets how requests are answered; `captures` lists what
    arrived, oldest first; `reset()` forgets both between tests."""

    def __init__(self) -> None:
        self.captures: list[Capture] = []
        self.errors: list[str] = []  # tracebacks of scripts that raised
        self._script: Script = no_script
        self._loop = asyncio.new_event_loop()
        self._busy: set[asyncio.StreamWriter] = set()  # connections with a reply in flight
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> RecordingUpstream:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0), self._loop
        )
        self._server = future.result(timeout=10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        async def close() -> None:
            assert self._server is not None
            self._server.close()
            for writer in list(self._busy):
                writer.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def script(self, handler: Script) -> None:
        self._script = handler

    def reset(self) -> None:
        """Forget captures and the script; cut replies still being written (idle
        keep-alive connections stay open, as a real server's would)."""

        def cut() -> None:
            for writer in list(self._busy):
                writer.close()

        self._loop.call_soon_threadsafe(cut)
        self.captures = []
        self.errors = []
        self._script = no_script

    def mark(self) -> int:
        return len(self.captures)

    def since(self, mark: int) -> list[Capture]:
        return self.captures[mark:]

    def wait_for(self, count: int, timeout_s: float = 5.0) -> list[Capture]:
        """Block until `count` requests have arrived in all."""
        deadline = time.monotonic() + timeout_s
        while len(self.captures) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.captures)} of {count} requests arrived")
            time.sleep(0.005)
        return self.captures

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = _Connection(reader)
        pump = asyncio.ensure_future(connection.pump())
        try:
            while (capture := await _read_request(connection, writer)) is not None:
                self.captures.append(capture)
                try:
                    reply = self._script(capture)
                except Exception:
                    self.errors.append(traceback.format_exc())
                    reply = Reply(500, [("Content-Type", "text/plain")],
                                  [Piece(b"script failed")], reason="Script Failed")
                self._busy.add(writer)
                try:
                    complete = await _write_reply(writer, connection, capture, reply)
                finally:
                    self._busy.discard(writer)
                if not complete or (capture.header("connection") or "").lower() == "close":
                    break
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            pump.cancel()


async def _read_request(connection: _Connection, writer: asyncio.StreamWriter) -> Capture | None:
    head = await connection.read_until(b"\r\n\r\n")
    if head is None:
        return None
    arrived_at = time.monotonic()
    lines = head[:-4].decode("latin-1").split("\r\n")
    method, target, version = lines[0].split(" ", 2)
    header_lines = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        header_lines.append((name, value.strip(" \t")))
    capture = Capture(method, target, version, header_lines, b"", False, arrived_at,
                      _connection=connection)
    if (capture.header("expect") or "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    if "chunked" in (capture.header("transfer-encoding") or "").lower():
        capture.chunked = True
        body = await _read_chunked(connection)
    else:
        body = await connection.read_exactly(int(capture.header("content-length") or 0))
    if body is None:
        return None
    capture.body = body
    return capture


async def _read_chunked(connection: _Connection) -> bytes | None:
    parts = []
    while True:
        size_line = await connection.read_until(b"\r\n")
        if size_line is None:
            return None
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while await connection.read_until(b"\r\n") not in (b"\r\n", None):
                pass  # trailer fields are not recorded
            return b"".join(parts)
        data = await connection.read_exactly(size + 2)
        if data is None:
            return None
        parts.append(data[:-2])


async def _write_reply(
    writer: asyncio.StreamWriter, connection: _Connection, capture: Capture, reply: Reply
) -> bool:
    """Write `reply`; False when the client left before it was complete."""
    if not await connection.sleep(reply.head_delay_s):
        return False
    head = [f"HTTP/1.1 {reply.status} {reply.reason}"]
    head += [f"{name}: {value}" for name, value in reply.headers]
    if reply.framing == "chunked":
        head.append("Transfer-Encoding: chunked")
    else:
        head.append(f"Content-Length: {sum(len(p.data) for p in reply.pieces)}")
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
    await writer.drain()
    for piece in reply.pieces:
        if not await connection.sleep(piece.delay_s):
            return False
        capture.sent_at.append(time.monotonic())
        if reply.framing == "chunked":
            if not piece.data:
                continue  # an empty chunk would end the body
            writer.write(b"%x\r\n%s\r\n" % (len(piece.data), piece.data))
        else:
            writer.write(piece.data)
        await writer.drain()
    if reply.framing == "chunked":
        writer.write(b"0\r\n\r\n")
        await writer.drain()
    capture.finished_at = time.monotonic()
    return True
