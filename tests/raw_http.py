"""Raw HTTP/1.1 over sockets, for tests of what a server does before, or instead of,
reading a whole request (slow clients, idle sockets, early refusals)."""

from __future__ import annotations

import select
import socket
import time

import orjson


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def read_until_closed(sock: socket.socket, timeout: float = 10.0) -> bytes:
    """Everything the server sends until it closes the connection (or `timeout` passes)."""
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data


def upload_until_answered(sock: socket.socket, head: bytes, chunk: bytes, total: int) -> bytes:
    """Send `head`, then `chunk` after `chunk` (up to `total` bytes) until the server answers.

    Returns what the server sent; reads and writes are interleaved so an early answer is
    read before the server's close can reset the connection."""
    sock.sendall(head)
    sock.setblocking(False)
    sent = 0
    while sent < total:
        readable, writable, _ = select.select([sock], [sock], [], 10)
        if readable or not writable:
            break
        try:
            sent += sock.send(chunk)
        except (BlockingIOError, InterruptedError):
            continue
        except OSError:
            break
    sock.setblocking(True)
    return read_until_closed(sock)


def status(response: bytes) -> int:
    """The status code of a raw response (0 when nothing came)."""
    if not response.startswith(b"HTTP/1.1 "):
        return 0
    return int(response[9:12])


def header(response: bytes, name: str) -> str | None:
    head = response.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    for line in head.split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return None


def error(response: bytes) -> dict:
    """The OpenAI error object of a raw response."""
    return orjson.loads(response.split(b"\r\n\r\n", 1)[1])["error"]


def is_closed(sock: socket.socket) -> bool:
    """The server closed this connection (reads end-of-file or reset; pending bytes,
    such as the rest of an answer, are read and dropped)."""
    sock.setblocking(False)
    try:
        while sock.recv(65536):
            pass
        return True
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        sock.setblocking(True)


def has_answer(sock: socket.socket) -> bool:
    """The server sent something, or closed the connection."""
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)
