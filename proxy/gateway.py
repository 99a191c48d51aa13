"""The request path: a raw ASGI app for every proxied `/v1/*` call.

It sits in front of the FastAPI app (which serves admin, health, metrics and reports)
because the hot path must add as little as possible: no router, no middleware stack,
no body validation. Per call it reads the body once, parses it once (orjson), resolves
the caller from an in-memory key cache, forwards through one pooled aiohttp session,
and splices impacts into the answer without re-serialising what the upstream sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from time import perf_counter
from typing import Any

import aiohttp
import orjson
from yarl import URL

from proxy.auth import Caller, authenticate
from proxy.errors import BadRequest, PayloadTooLarge, ProxyError, UpstreamError
from proxy.impacts import impact_headers, impacts_json, splice_field
from proxy.recorder import METERED_ENDPOINTS, Call, new_request_id
from proxy.streaming import ChatStreamRelay, ResponsesStreamRelay
from proxy.tokens import response_texts
from proxy.upstream import read_body
from proxy.usage import TokenUsage, from_body

log = logging.getLogger("wattgate.gateway")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

ENDPOINTS = {
    "/v1/chat/completions": "chat.completions",
    "/v1/completions": "completions",
    "/v1/embeddings": "embeddings",
    "/v1/responses": "responses",
}
_USAGE_STREAMS = frozenset({"chat.completions", "completions"})

_DROP_REQUEST_HEADERS = frozenset({
    b"host", b"content-length", b"connection", b"keep-alive", b"transfer-encoding", b"te",
    b"trailer", b"upgrade", b"proxy-authorization", b"authorization", b"x-api-key",
    b"x-wattgate-team", b"accept-encoding", b"cookie",
})
_DROP_RESPONSE_HEADERS = frozenset({
    b"connection", b"keep-alive", b"transfer-encoding", b"content-length",
    b"content-encoding", b"x-request-id", b"date", b"server", b"set-cookie",
})
_JSON = (b"content-type", b"application/json")


class Gateway:
    def __init__(self, runtime: Any) -> None:
        self.rt = runtime  # proxy.app.Runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        t0 = perf_counter()
        request_id = new_request_id()
        headers = dict(scope["headers"])
        path: str = scope["path"]
        endpoint = ENDPOINTS.get(path) if scope["method"] == "POST" else None
        if endpoint is None:
            endpoint = "models" if path.startswith("/v1/models") else "passthrough"
        call: Call | None = None
        try:
            caller = await authenticate(
                headers, master_key=self.rt.settings.master_key, keys=self.rt.keys
            )
            body = await _read_request(receive, headers, self.rt.settings.max_body_bytes)
            request = _parse(body) if endpoint in METERED_ENDPOINTS else None
            model = request.get("model") if request is not None else None
            if model is not None and not isinstance(model, str):
                raise BadRequest("'model' must be a string.", param="model")
            call = Call(
                request_id=request_id,
                received_at=datetime.now(UTC),
                t0=t0,
                caller=caller,
                endpoint=endpoint,
                deployment=self.rt.router.route(model)[0],
                requested_model=model,
                stream=bool(request and request.get("stream") is True),
                request_json=request,
            )
            await self._forward(call, scope, receive, send, headers, body)
        except ProxyError as exc:
            await _send_error(send, exc, request_id)
            if call is not None:
                event, _ = self.rt.recorder.measure(
                    call, status=exc.status, usage=None, usage_source="none",
                    error_type=exc.code,
                )
                elapsed = perf_counter() - t0
                self.rt.recorder.record(
                    event, duration_s=elapsed, overhead_s=elapsed - call.upstream_wait_s
                )
            else:
                self.rt.metrics.requests.labels(
                    "none", "none", "none", endpoint, str(exc.status)
                ).inc()

    async def _forward(
        self, call: Call, scope: Scope, receive: Receive, send: Send,
        headers: dict[bytes, bytes], body: bytes,
    ) -> None:
        dep = call.deployment
        client_wants_usage = False
        usage_injected = False
        request = call.request_json
        if request is not None:
            changed = False
            if call.stream and call.endpoint in _USAGE_STREAMS:
                options = request.get("stream_options")
                options = options if isinstance(options, dict) else {}
                client_wants_usage = options.get("include_usage") is True
                if not client_wants_usage:
                    request = {**request, "stream_options": {**options, "include_usage": True}}
                    usage_injected = changed = True
            if dep.upstream_model and request.get("model") != dep.upstream_model:
                request = {**request, "model": dep.upstream_model}
                changed = True
            if changed:
                body = orjson.dumps(request)

        query = scope.get("query_string") or b""
        target = dep.base_url + scope["path"][3:] + ("?" + query.decode("latin-1") if query else "")
        t_send = perf_counter()
        response = await self.rt.upstream.send(
            scope["method"],
            URL(target, encoded=True),
            headers=_upstream_headers(headers, call.caller, dep.api_key),
            body=body or None,
            read_timeout_s=dep.timeout_s,
        )
        try:
            if response.content_type == "text/event-stream" and response.status < 300:
                call.upstream_wait_s = perf_counter() - t_send
                await self._relay_stream(
                    call, response, receive, send, t_send,
                    client_wants_usage=client_wants_usage, usage_injected=usage_injected,
                )
            else:
                data = await read_body(response)
                call.upstream_wait_s = perf_counter() - t_send
                await self._relay_body(call, response, data, send)
        finally:
            response.release()

    async def _relay_body(
        self, call: Call, response: aiohttp.ClientResponse, data: bytes, send: Send
    ) -> None:
        status = response.status
        out_headers = _response_headers(response, call)
        parsed: Any = None
        usage: TokenUsage | None = None
        source = "none"
        if status < 400 and call.endpoint in METERED_ENDPOINTS:
            try:
                parsed = orjson.loads(data)
            except orjson.JSONDecodeError:
                parsed = None
            if isinstance(parsed, dict):
                usage = from_body(call.endpoint, parsed)
                source = "upstream"
                if usage is None:
                    usage = self.rt.recorder.local_usage(call, response_texts(call.endpoint, parsed))
                    source = "estimated"
        served = parsed.get("model") if isinstance(parsed, dict) else None
        event, imp = self.rt.recorder.measure(
            call, status=status, usage=usage, usage_source=source,
            served_model=served if isinstance(served, str) else None,
            latency_s=call.upstream_wait_s,
        )
        if imp is not None:
            spliced = splice_field(data, b"impacts", impacts_json(imp, source))
            if spliced is not None:
                data = spliced
            out_headers.extend(impact_headers(imp))
        out_headers.append((b"content-length", str(len(data)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": out_headers})
        await send({"type": "http.response.body", "body": data})
        elapsed = perf_counter() - call.t0
        self.rt.recorder.record(
            event, duration_s=elapsed, overhead_s=elapsed - call.upstream_wait_s
        )

    async def _relay_stream(
        self, call: Call, response: aiohttp.ClientResponse, receive: Receive, send: Send,
        t_send: float, *, client_wants_usage: bool, usage_injected: bool,
    ) -> None:
        recorder = self.rt.recorder
        state: dict[str, Any] = {"ttft": None, "event": None}

        def meter(usage: TokenUsage | None) -> bytes:
            source = "upstream"
            if usage is None:
                usage = recorder.local_usage(call, relay.output_texts())
                source = "estimated"
            event, imp = recorder.measure(
                call, status=state.get("status", response.status), usage=usage,
                usage_source=source, served_model=relay.model, latency_s=perf_counter() - t_send,
                ttft_s=state["ttft"], error_type=state.get("error"),
            )
            state["event"] = event
            return impacts_json(imp, source) if imp is not None else b"null"

        relay: ChatStreamRelay | ResponsesStreamRelay
        if call.endpoint == "responses":
            relay = ResponsesStreamRelay(meter)
        elif call.endpoint in _USAGE_STREAMS:
            relay = ChatStreamRelay(
                meter, client_wants_usage=client_wants_usage, usage_injected=usage_injected
            )
        else:
            relay = _PassThroughRelay()
        await send({
            "type": "http.response.start", "status": response.status,
            "headers": _response_headers(response, call),
        })
        disconnect = asyncio.ensure_future(receive())
        processing = 0.0
        try:
            async for chunk in response.content.iter_any():
                t = perf_counter()
                if state["ttft"] is None:
                    state["ttft"] = t - call.t0
                out = relay.feed(chunk)
                processing += perf_counter() - t
                if out:
                    await send({"type": "http.response.body", "body": b"".join(out), "more_body": True})
                if disconnect.done():
                    state["status"], state["error"] = 499, "client_disconnected"
                    break
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            log.warning("upstream stream broke off for %s: %s", call.request_id, exc)
            state["error"] = "upstream_stream_error"
            tail = relay.close()
            tail.append(b"data: " + UpstreamError(
                "Upstream stream broke off before it was complete.").body() + b"\n\n")
        else:
            tail = relay.close()
        finally:
            disconnect.cancel()
        await send({"type": "http.response.body", "body": b"".join(tail), "more_body": False})
        event = state["event"]
        if event is None:  # pass-through stream of an unmetered endpoint
            event, _ = recorder.measure(call, status=response.status, usage=None, usage_source="none")
        elapsed = perf_counter() - call.t0
        recorder.record(event, duration_s=elapsed, overhead_s=(t_send - call.t0) + processing)


class _PassThroughRelay:
    model = None

    def feed(self, chunk: bytes) -> list[bytes]:
        return [chunk]

    def close(self) -> list[bytes]:
        return []

    def output_texts(self) -> list[str]:
        return []


async def _read_request(receive: Receive, headers: dict[bytes, bytes], limit: int) -> bytes:
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


def _parse(body: bytes) -> dict[str, Any]:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"Request body is not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise BadRequest("Request body must be a JSON object.")
    return parsed


def _upstream_headers(
    headers: dict[bytes, bytes], caller: Caller, api_key: str | None
) -> list[tuple[str, str]]:
    out = [
        (name.decode("latin-1"), value.decode("latin-1"))
        for name, value in headers.items()
        if name not in _DROP_REQUEST_HEADERS
    ]
    if caller.upstream_authorization is not None:
        out.append(("Authorization", caller.upstream_authorization))
    elif api_key:
        out.append(("Authorization", f"Bearer {api_key}"))
    return out


def _response_headers(response: aiohttp.ClientResponse, call: Call) -> list[tuple[bytes, bytes]]:
    out = [
        (name.lower(), value)
        for name, value in response.raw_headers
        if name.lower() not in _DROP_RESPONSE_HEADERS
    ]
    upstream_id = response.headers.get("x-request-id")
    if upstream_id:
        out.append((b"x-upstream-request-id", upstream_id.encode("latin-1")))
    out.append((b"x-request-id", call.request_id.encode()))
    if call.deployment.name != "*":
        out.append((b"x-wattgate-deployment", call.deployment.name.encode("latin-1")))
    return out


async def _send_error(send: Send, exc: ProxyError, request_id: str) -> None:
    body = exc.body()
    await send({
        "type": "http.response.start",
        "status": exc.status,
        "headers": [_JSON, (b"content-length", str(len(body)).encode()),
                    (b"x-request-id", request_id.encode())],
    })
    await send({"type": "http.response.body", "body": body})
