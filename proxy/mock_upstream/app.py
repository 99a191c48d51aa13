"""The mock's raw ASGI app: routing, `x-mock-*` behaviour, error envelopes, stream pacing.

Raw ASGI rather than a framework because the mock is the baseline of the proxy-overhead
benchmark: every microsecond spent here would flatter the proxy's added latency.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from proxy.encoding import decode_body
from proxy.errors import ProxyError

from . import anthropic_wire, openai_wire
from .options import Behaviour, MockOptions
from .responses_wire import responses
from .sse import Reply, new_id

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Handler = Callable[[dict[str, Any], Behaviour], Reply]

_JSON = b"application/json"
_SSE = b"text/event-stream; charset=utf-8"


class MockUpstream:
    """ASGI app; keeps only the last request (by reference) for `GET /mock/last-request`."""

    def __init__(self, options: MockOptions) -> None:
        self.options = options
        self._defaults = Behaviour.defaults(options)
        self._last: tuple[str, str, list[tuple[bytes, bytes]], bytes] | None = None
        self._post: dict[str, Handler] = {
            "/v1/chat/completions": openai_wire.chat_completions,
            "/v1/completions": openai_wire.completions,
            "/v1/embeddings": lambda body, beh: openai_wire.embeddings(
                body, beh, options.embedding_dim
            ),
            "/v1/responses": responses,
            "/v1/messages": anthropic_wire.messages,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        method: str = scope["method"]
        path: str = scope["path"]
        if path == "/mock/last-request":
            await _send_json(send, 200, self._last_request())
            return
        body = await _read_body(receive)
        self._last = (method, path, scope["headers"], body)
        error = anthropic_wire.error if path == "/v1/messages" else openai_wire.error
        coding = dict(scope["headers"]).get(b"content-encoding")
        if coding:  # like upstreams that accept compressed request bodies
            try:
                body = decode_body(body, coding, 1 << 26)
            except ProxyError as exc:
                await _send_json(send, exc.status, error(exc.status, exc.message))
                return
        try:
            beh = self._defaults.with_headers(scope["headers"])
        except ValueError as exc:
            await _send_json(send, 400, error(400, f"invalid x-mock header: {exc}"))
            return
        if beh.latency_ms:
            await asyncio.sleep(beh.latency_ms / 1000)
        if beh.status is not None:
            headers = [(b"retry-after", b"1")] if beh.status == 429 else []
            await _send_json(send, beh.status, error(beh.status, "mock failure"), headers)
            return
        handler = self._post.get(path)
        if handler is not None and method == "POST":
            await self._answer(send, handler, body, beh, error)
        elif method == "GET" and path == "/v1/models":
            await _send_json(send, 200, openai_wire.models(self.options.models))
        elif method == "GET" and path.startswith("/v1/models/"):
            await _send_json(send, 200, openai_wire.model(path.removeprefix("/v1/models/")))
        elif handler is not None or path.startswith("/v1/models"):
            await _send_json(send, 405, error(405, f"Method {method} not allowed for {path}"))
        else:
            await _send_json(send, 404, error(404, f"Invalid URL ({method} {path})"))

    async def _answer(
        self,
        send: Send,
        handler: Handler,
        raw: bytes,
        beh: Behaviour,
        error: Callable[[int, str], dict[str, Any]],
    ) -> None:
        try:
            body = orjson.loads(raw)
            if not isinstance(body, dict):
                raise TypeError("the request body must be a JSON object")
            reply = handler(body, beh)
        except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
            await _send_json(send, 400, error(400, f"We could not parse the JSON body: {exc}"))
            return
        if isinstance(reply, dict):
            await _send_json(send, 200, reply)
        else:
            await _send_stream(send, reply, beh)

    def _last_request(self) -> dict[str, Any] | None:
        if self._last is None:
            return None
        method, path, raw_headers, raw_body = self._last
        headers: dict[str, str] = {}
        for name, value in raw_headers:
            key, text = name.decode("latin-1"), value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        try:
            body: Any = orjson.loads(raw_body) if raw_body else None
        except orjson.JSONDecodeError:
            body = raw_body.decode("utf-8", "replace")
        return {"method": method, "path": path, "headers": headers, "body": body}


async def _read_body(receive: Receive) -> bytes:
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body"):
        return body
    parts = [body]
    while message.get("more_body"):
        message = await receive()
        parts.append(message.get("body", b""))
    return b"".join(parts)


async def _send_json(
    send: Send, status: int, doc: Any, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    payload = orjson.dumps(doc)
    headers = [
        (b"content-type", _JSON),
        (b"content-length", str(len(payload)).encode()),
        (b"x-request-id", new_id("req_").encode()),
    ]
    if extra:
        headers += extra
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def _send_stream(send: Send, events: Any, beh: Behaviour) -> None:
    """One body message per SSE event, paced by `chunk_delay_ms`.

    `disconnect_after` returns without finishing the response, so the server drops the
    connection mid-body (an upstream crash); `truncate_after` ends the body cleanly but
    early (no `[DONE]`, no terminal event).
    """
    headers = [
        (b"content-type", _SSE),
        (b"cache-control", b"no-cache"),
        (b"x-request-id", new_id("req_").encode()),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    delay = beh.chunk_delay_ms / 1000
    for index, event in enumerate(events):
        if index == beh.disconnect_after:
            return
        if index == beh.truncate_after:
            break
        if delay and index:
            await asyncio.sleep(delay)
        await send({"type": "http.response.body", "body": event, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
