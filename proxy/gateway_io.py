"""The gateway's edges: reading an ASGI request, and the headers and errors it sends.

Kept apart from `proxy.gateway` so the request path reads as a sequence of decisions,
while the byte-level details (which headers travel, which are dropped, the error
envelopes) live in one place.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import aiohttp
import orjson

from proxy.anthropic_translate import error_body
from proxy.auth import Caller
from proxy.config import Deployment
from proxy.errors import BadRequest, PayloadTooLarge, ProxyError, UpstreamError
from proxy.impacts import plain_decimal
from proxy.recorder import Call

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

ANTHROPIC_VERSION = "2023-06-01"

_DROP_REQUEST_HEADERS = frozenset(
    {
        b"host",
        b"content-length",
        b"connection",
        b"keep-alive",
        b"transfer-encoding",
        b"te",
        b"trailer",
        b"upgrade",
        b"proxy-authorization",
        b"authorization",
        b"x-api-key",
        b"x-wattgate-team",
        b"accept-encoding",
        b"cookie",
    }
)
_DROP_RESPONSE_HEADERS = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"transfer-encoding",
        b"content-length",
        b"content-encoding",
        b"x-request-id",
        b"date",
        b"server",
        b"set-cookie",
    }
)
JSON_CONTENT = (b"content-type", b"application/json")
SSE_CONTENT = (b"content-type", b"text/event-stream")


def caller_key(caller: Caller) -> str | None:
    """Open mode: the caller's own key, without its `Bearer` scheme."""
    auth = caller.upstream_authorization
    if auth is None:
        return None
    scheme, _, token = auth.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def read_request(receive: Receive, headers: dict[bytes, bytes], limit: int) -> bytes:
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


def parse_json(body: bytes) -> dict[str, Any]:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"Request body is not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise BadRequest("Request body must be a JSON object.")
    return parsed


def upstream_headers(
    headers: dict[bytes, bytes], caller: Caller, dep: Deployment
) -> list[tuple[str, str]]:
    out = [
        (name.decode("latin-1"), value.decode("latin-1"))
        for name, value in headers.items()
        if name not in _DROP_REQUEST_HEADERS
    ]
    if dep.provider == "anthropic":  # Anthropic authenticates with x-api-key, not Bearer
        key = caller_key(caller) or dep.api_key
        if key:
            out.append(("x-api-key", key))
        if b"anthropic-version" not in headers:
            out.append(("anthropic-version", ANTHROPIC_VERSION))
    elif caller.upstream_authorization is not None:
        out.append(("Authorization", caller.upstream_authorization))
    elif dep.api_key:
        out.append(("Authorization", f"Bearer {dep.api_key}"))
    out.extend(dep.headers)
    return out


def gateway_headers(call: Call) -> list[tuple[bytes, bytes]]:
    out = [(b"x-request-id", call.request_id.encode())]
    if call.deployment.name != "*":
        out.append((b"x-wattgate-deployment", call.deployment.label.encode("latin-1")))
    out.append((b"x-wattgate-attempts", str(call.attempt + 1).encode()))
    remaining = call.extra.get("budget_remaining_g")
    if remaining is not None:
        out.append((b"x-carbon-budget-remaining-g", plain_decimal(remaining).encode()))
    return out


def response_headers(response: aiohttp.ClientResponse, call: Call) -> list[tuple[bytes, bytes]]:
    out = [
        (name.lower(), value)
        for name, value in response.raw_headers
        if name.lower() not in _DROP_RESPONSE_HEADERS
    ]
    upstream_id = response.headers.get("x-request-id") or response.headers.get("request-id")
    if upstream_id:
        out.append((b"x-upstream-request-id", upstream_id.encode("latin-1")))
    out.extend(gateway_headers(call))
    return out


def stream_error_frame(anthropic: bool) -> bytes:
    message = "Upstream stream broke off before it was complete."
    if anthropic:
        return b"event: error\ndata: " + error_body(502, message) + b"\n\n"
    return b"data: " + UpstreamError(message).body() + b"\n\n"


async def send_error(
    send: Send, exc: ProxyError, request_id: str, *, anthropic: bool = False, attempts: int = 0
) -> None:
    body = error_body(exc.status, exc.message) if anthropic else exc.body()
    headers = [
        JSON_CONTENT,
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", request_id.encode()),
    ]
    if attempts:
        headers.append((b"x-wattgate-attempts", str(attempts).encode()))
    await send({"type": "http.response.start", "status": exc.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
