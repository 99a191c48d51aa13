"""Request bodies on the API side (admin, reports, budgets, ...): key first, then a bounded read.

FastAPI reads a route's whole body before it resolves any dependency, the key check
included, and sets no size limit. `BodyAdmission` wraps the API so that a request
with a body is only read once its key is known (master key or an active team key;
open mode accepts anyone, as the proxied routes do), and never past
`WATTGATE_MAX_BODY_BYTES` (the limit the proxied routes use). Refusals are sent
before a byte of the body is read, in OpenAI's error envelope, with `Connection:
close` so the server does not go on reading an upload nobody wants; a client that
sent `Expect: 100-continue` is never invited to send it.

Which routes a caller may use is still decided by each route: this only guards the read.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from proxy.auth import authenticate
from proxy.edge import read_body
from proxy.errors import ProxyError
from proxy.runtime import Runtime

Message = MutableMapping[str, Any]


def has_body(headers: dict[bytes, bytes]) -> bool:
    """HTTP/1.1 framing: a body follows when a non-zero length or a transfer coding is sent."""
    length = headers.get(b"content-length")
    return b"transfer-encoding" in headers or (length is not None and length.strip() != b"0")


class BodyAdmission:
    """ASGI wrapper: authenticate, then read at most `max_body_bytes`, then call `app`."""

    def __init__(self, app: ASGIApp, runtime: Callable[[], Runtime | None]) -> None:
        self._app = app
        self._runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rt = self._runtime()
        headers = dict(scope["headers"])
        if rt is None or not has_body(headers):
            await self._app(scope, receive, send)
            return
        try:
            await authenticate(headers, master_key=rt.settings.master_key, keys=rt.keys)
            body = await read_body(receive, headers, rt.settings.max_body_bytes)
        except ProxyError as exc:
            await refuse(send, exc)
            return
        await self._app(scope, replay(body, receive), send)


def replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands out the body already read, then defers to the server's."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


async def refuse(send: Send, exc: ProxyError) -> None:
    """Answer `exc` and close the connection (the unread body is not wanted)."""
    body = exc.body()
    await send(
        {
            "type": "http.response.start",
            "status": exc.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
