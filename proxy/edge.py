"""The gateway's ASGI edges: reading a request body, and sending errors.

Kept apart from the pipeline so it reads as a sequence of decisions, while the ASGI
message details live in one place.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from proxy.call import Headers
from proxy.errors import PayloadTooLarge, UpstreamError
from proxy.forward import JSON_CONTENT
from proxy.protocols.anthropic_messages import error_body as anthropic_error_body

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


async def read_body(receive: Receive, headers: Headers, limit: int) -> bytes:
    """The whole request body; `PayloadTooLarge` as soon as it passes `limit` bytes."""
    declared = headers.get(b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"Request body is larger than the {limit}-byte limit.")
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body"):
        return body
    parts = [body]
    size = len(body)
    while message.get("more_body"):
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"Request body is larger than the {limit}-byte limit.")
        parts.append(chunk)
    return b"".join(parts)


def stream_error_frame(anthropic: bool) -> bytes:
    """The event that ends a stream the upstream broke off, in the client's protocol."""
    message = "Upstream stream broke off before it was complete."
    if anthropic:
        return b"event: error\ndata: " + anthropic_error_body(502, message) + b"\n\n"
    return b"data: " + UpstreamError(message).body() + b"\n\n"


async def send_error(
    send: Send, body: bytes, status: int, request_id: str, *, attempts: int = 0
) -> None:
    headers = [
        JSON_CONTENT,
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", request_id.encode()),
    ]
    if attempts:
        headers.append((b"x-wattgate-attempts", str(attempts).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

