"""The client side: what a caller got, byte for byte, whichever library made the call.

A `Recorder` builds httpx clients whose transport tees the wire body (after de-chunking,
before content decoding) and the arrival time of each piece; handed to the official
`openai` and `anthropic` SDKs as their `http_client`, they let a test use the SDK as an
application would and still compare the exact bytes. `raw_exchange` speaks HTTP/1.1 over a
plain socket for requests no client library would send (odd paths, a minimal header set).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import anthropic
import httpx
import httpx2
import openai

TIMEOUT_S = 15.0


@dataclass(slots=True)
class Seen:
    """One response as the client received it."""

    status: int
    headers: list[tuple[str, str]]  # as received: original case, order, repeats
    pieces: list[bytes] = field(default_factory=list)  # the body as it was read
    arrivals: list[float] = field(default_factory=list)  # monotonic time of each piece

    @property
    def body(self) -> bytes:
        return b"".join(self.pieces)

    def header(self, name: str) -> str | None:
        low = name.lower()
        values = [v for k, v in self.headers if k.lower() == low]
        return values[-1] if values else None


class Recorder:
    """Records every response an httpx-style client hands up (`seen`, oldest first).

    `client(lib)` builds a client of `lib` (`httpx`, or `httpx2`, which newer `anthropic`
    SDKs use) whose transport tees each wire body as it is read.
    """

    def __init__(self) -> None:
        self.seen: list[Seen] = []

    def client(self, lib: ModuleType = httpx) -> Any:
        return lib.Client(transport=_tee_transport(lib, self), timeout=TIMEOUT_S)


def _tee_transport(lib: ModuleType, recorder: Recorder) -> Any:
    class Tee(lib.SyncByteStream):  # type: ignore[name-defined,misc]
        def __init__(self, inner: Any, seen: Seen) -> None:
            self._inner = inner
            self._seen = seen

        def __iter__(self) -> Iterator[bytes]:
            for piece in self._inner:
                self._seen.arrivals.append(time.monotonic())
                self._seen.pieces.append(piece)
                yield piece

        def close(self) -> None:
            self._inner.close()

    class Transport(lib.HTTPTransport):  # type: ignore[name-defined,misc]
        def handle_request(self, request: Any) -> Any:
            response = super().handle_request(request)
            seen = Seen(response.status_code, [(k.decode("latin-1"), v.decode("latin-1"))
                                               for k, v in response.headers.raw])
            recorder.seen.append(seen)
            response.stream = Tee(response.stream, seen)
            return response

    return Transport()


def openai_client(base_url: str, key: str, recorder: Recorder) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=TIMEOUT_S,
                         http_client=recorder.client(httpx))


def anthropic_client(base_url: str, key: str, recorder: Recorder) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=base_url, api_key=key, max_retries=0,
                               timeout=TIMEOUT_S, http_client=recorder.client(httpx2))


def send_raw(address: str, request: bytes, timeout_s: float = TIMEOUT_S) -> socket.socket:
    """A socket to `address` ("host:port") that has sent `request`; the caller reads."""
    host, port = address.split(":")
    sock = socket.create_connection((host, int(port)), timeout=timeout_s)
    sock.sendall(request)
    return sock


def read_until(sock: socket.socket, marker: bytes) -> bytes:
    """Read from `sock` until `marker` has arrived (or the peer closed); all that came."""
    data = b""
    while marker not in data and (chunk := sock.recv(65536)):
        data += chunk
    return data


def raw_exchange(address: str, request: bytes, timeout_s: float = TIMEOUT_S) -> Seen:
    """Send `request` (a whole HTTP/1.1 request, `Connection: close`) to `address`
    ("host:port") and read the answer."""
    with send_raw(address, request, timeout_s) as sock:
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = [(k, v.strip()) for k, _, v in (line.partition(":") for line in lines[1:])]
    seen = Seen(int(lines[0].split(" ")[1]), headers)
    if any(k.lower() == "transfer-encoding" for k, _ in headers):
        body = _dechunk(body)
    seen.pieces.append(body)
    return seen


def _dechunk(data: bytes) -> bytes:
    out = b""
    while True:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return out
        out += data[:size]
        data = data[size + 2:]


def raw_request(method: str, target: str, host: str, headers: list[tuple[str, str]],
                body: bytes = b"") -> bytes:
    """The bytes of one HTTP/1.1 request; `target` goes on the request line exactly as given."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
