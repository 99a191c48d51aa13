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
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from time import perf_counter
from typing import Any, Protocol

import aiohttp
import orjson

from proxy import ledger
from proxy.anthropic_translate import (
    MessageStream,
    chat_request,
    message_response,
    upstream_error_body,
)
from proxy.auth import authenticate
from proxy.config import Deployment
from proxy.errors import BadRequest, ProxyError, UpstreamError
from proxy.gateway_io import (
    JSON_CONTENT,
    SSE_CONTENT,
    Receive,
    Scope,
    Send,
    caller_key,
    gateway_headers,
    parse_json,
    read_request,
    response_headers,
    send_error,
    stream_error_frame,
    upstream_headers,
)
from proxy.impacts import impact_headers, impacts_json, splice_field
from proxy.recorder import METERED_ENDPOINTS, Call, new_request_id
from proxy.streaming import (
    AnthropicStreamRelay,
    ChatStreamRelay,
    ChatToMessagesRelay,
    ResponsesStreamRelay,
)
from proxy.tokens import response_texts
from proxy.translate import Translator, forwarded_headers, litellm_model
from proxy.upstream import read_body
from proxy.usage import TokenUsage, from_body, from_openai

log = logging.getLogger("wattgate.gateway")


ENDPOINTS = {
    "/v1/chat/completions": "chat.completions",
    "/v1/completions": "completions",
    "/v1/embeddings": "embeddings",
    "/v1/responses": "responses",
    "/v1/messages": "messages",
}
_USAGE_STREAMS = frozenset({"chat.completions", "completions"})



class Relay(Protocol):
    model: str | None

    def feed(self, chunk: bytes) -> list[bytes]: ...
    def close(self) -> list[bytes]: ...
    def output_texts(self) -> list[str]: ...


class Gateway:
    def __init__(self, runtime: Any) -> None:
        self.rt = runtime  # proxy.app.Runtime
        self.translator = Translator()
        if runtime.router.needs_litellm:
            self.translator.preload()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        t0 = perf_counter()
        request_id = new_request_id()
        headers = dict(scope["headers"])
        path: str = scope["path"]
        endpoint = ENDPOINTS.get(path) if scope["method"] == "POST" else None
        if endpoint is None:
            endpoint = "models" if path.startswith("/v1/models") else "passthrough"
        anthropic_wire = path.startswith("/v1/messages")
        call: Call | None = None
        try:
            caller = await authenticate(
                headers, master_key=self.rt.settings.master_key, keys=self.rt.keys
            )
            ledger.admit(self.rt, metered=endpoint in METERED_ENDPOINTS)  # 503: no row possible
            budget = self.rt.budgets.check(caller.team) if self.rt.budgets else None
            body = await read_request(receive, headers, self.rt.settings.max_body_bytes)
            request = parse_json(body) if endpoint in METERED_ENDPOINTS else None
            model = request.get("model") if request is not None else None
            if model is not None and not isinstance(model, str):
                raise BadRequest("'model' must be a string.", param="model")
            router = self.rt.router
            chain = router.route_messages(model) if anthropic_wire else router.route(model)
            call = Call(
                request_id=request_id,
                received_at=datetime.now(UTC),
                t0=t0,
                caller=caller,
                endpoint=endpoint,
                deployment=chain[0],
                requested_model=model,
                stream=bool(request and request.get("stream") is True),
                request_json=request,
            )
            if budget is not None:
                call.extra["budget_remaining_g"] = budget.remaining_g
            await self._serve(call, chain, scope, receive, send, headers, body)
        except ProxyError as exc:
            attempts = call.attempt + 1 if call is not None else 0
            await send_error(send, exc, request_id, anthropic=anthropic_wire, attempts=attempts)
            if call is not None:
                self._record_failure(call, exc, t0)
            else:
                self.rt.metrics.requests.labels(
                    "none", "none", "none", endpoint, str(exc.status)
                ).inc()

    async def _serve(
        self, call: Call, chain: tuple[Deployment, ...], scope: Scope, receive: Receive,
        send: Send, headers: dict[bytes, bytes], body: bytes,
    ) -> None:
        """Try each deployment of the chain (with its retries) until one answers.

        Connection failures, 429 and 5xx move on to the next try; the last try's answer
        is relayed whatever it is. Every try is recorded as its own usage row.
        """
        settings = self.rt.settings
        plan = [
            (dep, k)
            for dep in chain
            for k in range(1 + _pick(dep.retries, settings.upstream_retries))
        ]
        for n, (dep, k) in enumerate(plan):
            if k:  # a retry on the same deployment; moving to the next one does not wait
                backoff = _pick(dep.backoff_s, settings.upstream_backoff_s)
                await asyncio.sleep(backoff * 2 ** (k - 1))
            call.deployment, call.attempt = dep, n
            last = n == len(plan) - 1
            t_try = perf_counter()
            try:
                if dep.translated and not scope["path"].startswith("/v1/messages"):
                    served = await self._translated(call, send, headers, last=last)
                elif call.endpoint == "messages" and dep.provider != "anthropic":
                    served = await self._messages_via_chat(call, receive, send, headers,
                                                           last=last)
                else:
                    served = await self._forward(call, scope, receive, send, headers, body,
                                                 last=last)
            except ProxyError as exc:
                if last or not _retryable(exc.status):
                    raise
                log.info("attempt %d of %s on %s failed (%s); trying again",
                         n, call.request_id, dep.name, exc.code)
                self._record_failure(call, exc, t_try)
                continue
            if served:
                return

    def _record_failure(self, call: Call, exc: ProxyError, t_start: float) -> None:
        event, _ = self.rt.recorder.measure(
            call, status=exc.status, usage=None, usage_source="none", error_type=exc.code,
        )
        elapsed = perf_counter() - t_start
        self.rt.recorder.record(
            event, duration_s=elapsed, overhead_s=max(elapsed - call.upstream_wait_s, 0.0)
        )

    async def _forward(
        self, call: Call, scope: Scope, receive: Receive, send: Send,
        headers: dict[bytes, bytes], body: bytes, *, last: bool,
    ) -> bool:
        dep = call.deployment
        client_wants_usage = False
        usage_injected = False
        request = call.request_json
        anthropic = dep.provider == "anthropic"
        if request is not None:
            changed = False
            if call.stream and call.endpoint in _USAGE_STREAMS:
                options = request.get("stream_options")
                options = options if isinstance(options, dict) else {}
                client_wants_usage = options.get("include_usage") is True
                if not client_wants_usage:
                    request = {**request, "stream_options": {**options, "include_usage": True}}
                    usage_injected = changed = True
            upstream_model = dep.upstream_model
            model = request.get("model")
            if upstream_model is None and anthropic and isinstance(model, str):
                upstream_model = model.removeprefix("anthropic/")
            if upstream_model and model != upstream_model:
                request = {**request, "model": upstream_model}
                changed = True
            if changed:
                body = orjson.dumps(request)

        query = scope.get("query_string") or b""
        path = scope["path"] if anthropic else scope["path"][3:]
        target = dep.base_url + path + ("?" + query.decode("latin-1") if query else "")
        t_send = perf_counter()
        response = await self.rt.upstream.send(
            scope["method"],
            self.rt.upstream.url(target),
            headers=upstream_headers(headers, call.caller, dep),
            body=body or None,
            read_timeout_s=dep.timeout_s,
        )
        try:
            await _give_up_if_retryable(call, response, t_send, last=last)
            if response.content_type == "text/event-stream" and response.status < 300:
                call.upstream_wait_s += perf_counter() - t_send
                relay: Relay
                if call.endpoint == "messages":
                    relay = AnthropicStreamRelay(self._meter_stream(call, t_send, lambda: relay))
                elif call.endpoint == "responses":
                    relay = ResponsesStreamRelay(self._meter_stream(call, t_send, lambda: relay))
                elif call.endpoint in _USAGE_STREAMS:
                    relay = ChatStreamRelay(
                        self._meter_stream(call, t_send, lambda: relay),
                        client_wants_usage=client_wants_usage, usage_injected=usage_injected,
                    )
                else:
                    relay = _PassThroughRelay()
                await self._pump(
                    call, relay, response.content.iter_any(), receive, send, t_send,
                    status=response.status, headers=response_headers(response, call),
                )
            else:
                data = await read_body(response)
                call.upstream_wait_s += perf_counter() - t_send
                await self._relay_body(
                    call, response.status, response_headers(response, call), data, send
                )
        finally:
            response.release()
        return True

    async def _messages_via_chat(
        self, call: Call, receive: Receive, send: Send, headers: dict[bytes, bytes], *,
        last: bool,
    ) -> bool:
        """A `/v1/messages` call served by an OpenAI-format deployment: the request goes
        up as a chat completion, the answer (body, stream or error) comes back in
        Anthropic's wire format (`proxy.anthropic_translate`)."""
        dep = call.deployment
        request = call.request_json or {}
        model = dep.upstream_model or call.requested_model or ""
        body = orjson.dumps(chat_request(request, model=model))
        stop_sequences = request.get("stop_sequences")
        t_send = perf_counter()
        response = await self.rt.upstream.send(
            "POST",
            self.rt.upstream.url(dep.base_url + "/chat/completions"),
            headers=[(name, value) for name, value in upstream_headers(headers, call.caller, dep)
                     if not name.startswith("anthropic-")],
            body=body,
            read_timeout_s=dep.timeout_s,
        )
        try:
            await _give_up_if_retryable(call, response, t_send, last=last)
            out_headers = [(name, value) for name, value in response_headers(response, call)
                           if name != b"content-type"]
            if response.content_type == "text/event-stream" and response.status < 300:
                call.upstream_wait_s += perf_counter() - t_send
                stream = MessageStream(model=model, stop_sequences=stop_sequences)
                relay = ChatToMessagesRelay(
                    self._meter_stream(call, t_send, lambda: relay), stream
                )
                await self._pump(
                    call, relay, response.content.iter_any(), receive, send, t_send,
                    status=response.status, headers=[SSE_CONTENT, *out_headers],
                )
                return True
            data = await read_body(response)
            call.upstream_wait_s += perf_counter() - t_send
        finally:
            response.release()
        out_headers.insert(0, JSON_CONTENT)
        if response.status >= 400:
            await self._send_metered(
                call, response.status, out_headers, upstream_error_body(response.status, data),
                send, usage=None, source="none", served_model=None,
            )
            return True
        try:
            chat = orjson.loads(data)
        except orjson.JSONDecodeError:
            chat = None
        if not isinstance(chat, dict):
            raise UpstreamError(f"Upstream {dep.base_url} answered with something other than "
                                "a chat completion.")
        message = message_response(chat, model=model, stop_sequences=stop_sequences)
        usage = from_openai(chat.get("usage"))
        source = "upstream"
        if usage is None:
            usage = self.rt.recorder.local_usage(call, response_texts("messages", message))
            message["usage"] = {"input_tokens": usage.input_tokens,
                                "output_tokens": usage.output_tokens}
            source = "estimated"
        await self._send_metered(
            call, response.status, out_headers, orjson.dumps(message), send,
            usage=usage, source=source, served_model=message["model"],
        )
        return True

    async def _translated(
        self, call: Call, send: Send, headers: dict[bytes, bytes], *, last: bool
    ) -> bool:
        """A chat call to a provider with another wire format, through litellm."""
        dep = call.deployment
        if call.endpoint != "chat.completions" or call.request_json is None:
            raise BadRequest(
                f"{dep.provider} deployments serve /v1/chat/completions only "
                f"(and /v1/messages for Anthropic)."
            )
        request = call.request_json
        kwargs: dict[str, Any] = {
            "model": litellm_model(dep, call.requested_model or ""),
            "api_key": caller_key(call.caller) or dep.api_key,
            "headers": forwarded_headers(headers, dep),
        }
        out_headers = gateway_headers(call)
        t_send = perf_counter()
        if not call.stream:
            doc = await self.translator.complete(dep, request, **kwargs)
            call.upstream_wait_s += perf_counter() - t_send
            await self._relay_body(call, 200, [JSON_CONTENT, *out_headers], orjson.dumps(doc), send)
            return True
        options = request.get("stream_options")
        client_wants_usage = isinstance(options, dict) and options.get("include_usage") is True
        chunks = await self.translator.stream(dep, request, **kwargs)
        call.upstream_wait_s += perf_counter() - t_send
        relay = ChatStreamRelay(
            self._meter_stream(call, t_send, lambda: relay),
            client_wants_usage=client_wants_usage, usage_injected=not client_wants_usage,
        )
        await self._pump(
            call, relay, chunks, None, send, t_send, status=200,
            headers=[SSE_CONTENT, (b"cache-control", b"no-cache"), *out_headers],
        )
        return True

    async def _relay_body(
        self, call: Call, status: int, out_headers: list[tuple[bytes, bytes]], data: bytes,
        send: Send,
    ) -> None:
        parsed: Any = None
        usage: TokenUsage | None = None
        source = "none"
        if call.endpoint == "models" and status == 200 and self.rt.router.model_names:
            data = with_configured_models(data, self.rt.router.model_names)
        if status < 400 and call.endpoint in METERED_ENDPOINTS:
            try:
                parsed = orjson.loads(data)
            except orjson.JSONDecodeError:
                parsed = None
            if isinstance(parsed, dict):
                usage = from_body(call.endpoint, parsed)
                source = "upstream"
                if usage is None:
                    texts = response_texts(call.endpoint, parsed)
                    usage = self.rt.recorder.local_usage(call, texts)
                    source = "estimated"
        served = parsed.get("model") if isinstance(parsed, dict) else None
        await self._send_metered(
            call, status, out_headers, data, send, usage=usage, source=source,
            served_model=served if isinstance(served, str) else None,
        )

    async def _send_metered(
        self, call: Call, status: int, out_headers: list[tuple[bytes, bytes]], data: bytes,
        send: Send, *, usage: TokenUsage | None, source: str, served_model: str | None,
    ) -> None:
        """Estimate, splice `impacts` into the body and headers, send, record."""
        event, imp = self.rt.recorder.measure(
            call, status=status, usage=usage, usage_source=source,
            served_model=served_model, latency_s=call.upstream_wait_s,
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

    def _meter_stream(
        self, call: Call, t_send: float, relay: Callable[[], Relay]
    ) -> Callable[[TokenUsage | None], bytes]:
        """The `meter` callback of a stream relay; stores the event on `call.extra`."""
        recorder = self.rt.recorder

        def meter(usage: TokenUsage | None) -> bytes:
            source = "upstream"
            if usage is None:
                usage = recorder.local_usage(call, relay().output_texts())
                source = "estimated"
            event, imp = recorder.measure(
                call, status=call.extra.get("status", 200), usage=usage,
                usage_source=source, served_model=relay().model,
                latency_s=perf_counter() - t_send, ttft_s=call.extra.get("ttft"),
                error_type=call.extra.get("error"),
            )
            call.extra["event"] = event
            return impacts_json(imp, source) if imp is not None else b"null"

        return meter

    async def _pump(
        self, call: Call, relay: Relay, chunks: AsyncIterator[bytes], receive: Receive | None,
        send: Send, t_send: float, *, status: int, headers: list[tuple[bytes, bytes]],
    ) -> None:
        """Send a stream's events as they come; meter and record it at the end."""
        recorder = self.rt.recorder
        ledger.begin_stream(self.rt, call)  # an interrupted row, should the process die
        state = call.extra
        state["status"] = status
        await send({"type": "http.response.start", "status": status, "headers": headers})
        disconnect = asyncio.ensure_future(receive()) if receive is not None else None
        processing = 0.0
        try:
            async for chunk in chunks:
                t = perf_counter()
                if state.get("ttft") is None:
                    state["ttft"] = t - call.t0
                out = relay.feed(chunk)
                processing += perf_counter() - t
                if out:
                    await send({"type": "http.response.body", "body": b"".join(out),
                                "more_body": True})
                if disconnect is not None and disconnect.done():
                    state["status"], state["error"] = 499, "client_disconnected"
                    break
        except (aiohttp.ClientError, TimeoutError, ProxyError) as exc:
            log.warning("upstream stream broke off for %s: %s", call.request_id, exc)
            state["error"] = "upstream_stream_error"
            tail = relay.close()
            tail.append(stream_error_frame(call.endpoint == "messages"))
        else:
            tail = relay.close()
        finally:
            if disconnect is not None:
                disconnect.cancel()
        await send({"type": "http.response.body", "body": b"".join(tail), "more_body": False})
        event = state.get("event")
        if event is None:  # pass-through stream of an unmetered endpoint
            event, _ = recorder.measure(call, status=status, usage=None, usage_source="none")
        elapsed = perf_counter() - call.t0
        recorder.record(event, duration_s=elapsed, overhead_s=(t_send - call.t0) + processing)


class _RetryableStatus(ProxyError):
    """An upstream 429/5xx answer on a try that is not the last: the next try follows."""

    def __init__(self, status: int) -> None:
        super().__init__(f"Upstream answered {status}.", code=f"upstream_{status}")
        self.status = status


def _pick(value: Any, default: Any) -> Any:
    return default if value is None else value


def with_configured_models(data: bytes, names: list[str]) -> bytes:
    """The upstream's `GET /v1/models` list plus the model names the config serves."""
    try:
        listing = orjson.loads(data)
        models = listing["data"]
        known = {m.get("id") for m in models if isinstance(m, dict)}
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        return data  # not a model list: relay it as it came
    models.extend(
        {"id": name, "object": "model", "created": 0, "owned_by": "wattgate"}
        for name in names
        if name not in known
    )
    return orjson.dumps(listing)


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


async def _give_up_if_retryable(
    call: Call, response: aiohttp.ClientResponse, t_send: float, *, last: bool
) -> None:
    """A 429/5xx on a try that is not the last: drain it and let the next try follow."""
    if not last and _retryable(response.status):
        await read_body(response)
        call.upstream_wait_s += perf_counter() - t_send
        raise _RetryableStatus(response.status)


class _PassThroughRelay:
    model: str | None = None

    def feed(self, chunk: bytes) -> list[bytes]:
        return [chunk]

    def close(self) -> list[bytes]:
        return []

    def output_texts(self) -> list[str]:
        return []
