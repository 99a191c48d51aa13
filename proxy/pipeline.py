"""The request path: a raw ASGI app for every proxied `/v1/*` call.

    authenticate -> admit (path rules, budget, body) -> route -> forward (tries: retries and
    fallbacks) -> meter -> send -> record

It sits in front of the FastAPI app (which serves admin, health, metrics and reports)
because the hot path must add as little as possible: no router, no middleware stack, no
body validation. Everything that depends on a wire format is asked of the call's
protocol module (`proxy.protocols`); one try against one deployment is an exchange
(`proxy.exchange`, `proxy.adapters`); estimating and storing is the recorder's.

A client that disconnects before its answer is complete cancels the upstream request at
once (a watcher task waits for the disconnect), and the call is recorded with status 499
and the tokens known so far.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from time import perf_counter
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson

from proxy import ledger
from proxy.adapters.litellm_chat import LitellmExchange, Translator
from proxy.adapters.messages_chat_exchange import MessagesViaChat
from proxy.auth import Caller, authenticate
from proxy.call import Call, Headers, new_request_id
from proxy.config import Deployment
from proxy.display.annotation import (
    ANNOTATION_PREFIX,
    EQUIVALENTS_HEADER,
    render_annotation,
    should_annotate,
    wants_equivalents,
)
from proxy.display.annotation import HEADER as ANNOTATE_HEADER
from proxy.display.conversations import conversation_id
from proxy.edge import Receive, Scope, Send, read_body, send_error, stream_error_frame
from proxy.encoding import decode_body
from proxy.errors import BadRequest, ProxyError
from proxy.events import UsageEvent
from proxy.exchange import (
    Answer,
    BodyAnswer,
    DirectExchange,
    Exchange,
    RetryableAnswer,
    StreamAnswer,
)
from proxy.forward import DEFAULT_FORWARD_HEADERS, HeaderAllowList
from proxy.impacts import impact_headers, impacts_doc
from proxy.logs import log_upstream_failure
from proxy.path_policy import DEFAULT_PASSTHROUGH, PassthroughPolicy, upstream_target
from proxy.protocols import MESSAGES, Protocol, protocol_for
from proxy.recorder import local_usage
from proxy.retries import Tries, retryable
from proxy.stream_usage import StreamUsagePolicy
from proxy.tasks import shape_request
from proxy.usage import TokenUsage

if TYPE_CHECKING:
    from proxy.runtime import Runtime

log = logging.getLogger("wattgate.gateway")

# How long an annotated answer may wait, past the upstream's own time, for the first read
# of its conversation's stored calls (only on a conversation's first answer here).
_FIRST_READ_WAIT_S = 0.25


class Gateway:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        settings = runtime.settings
        stream_usage = StreamUsagePolicy()
        allowed = HeaderAllowList(DEFAULT_FORWARD_HEADERS + settings.forward_headers)
        self._direct = DirectExchange(
            runtime.upstream,
            stream_usage=stream_usage,
            allowed_headers=allowed,
            model_names=runtime.router.model_names,
        )
        self._via_chat = MessagesViaChat(
            runtime.upstream, stream_usage=stream_usage, allowed_headers=allowed
        )
        translator = Translator()
        if runtime.router.needs_litellm:
            translator.preload()
        self._litellm = LitellmExchange(translator, allowed_headers=allowed)
        self._paths = PassthroughPolicy(
            DEFAULT_PASSTHROUGH + settings.passthrough_paths, settings.team_passthrough
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        t0 = perf_counter()
        request_id = new_request_id()
        protocol = protocol_for(scope["method"], scope["path"])
        caller: Caller | None = None
        try:
            headers = Headers(scope["headers"])
            caller = await authenticate(
                headers.map, master_key=self.rt.settings.master_key, keys=self.rt.keys
            )
            call = await self._admit(scope, receive, headers, protocol, caller, request_id, t0)
        except ProxyError as exc:
            await send_error(send, protocol.error_body(exc), exc.status, request_id)
            elapsed = perf_counter() - t0
            self.rt.metrics.observe_request(
                team=caller.team if caller else None, model=None, provider=None,
                endpoint=protocol.endpoint, status=exc.status, duration_s=elapsed,
                overhead_s=elapsed,
            )
            return
        work = asyncio.ensure_future(self._answer(call, send))
        watcher = asyncio.ensure_future(_watch_disconnect(call, receive, work))
        try:
            await work
        except asyncio.CancelledError:
            if not call.client_gone:
                raise
        finally:
            watcher.cancel()

    async def _admit(
        self, scope: Scope, receive: Receive, headers: Headers, protocol: Protocol,
        caller: Caller, request_id: str, t0: float,
    ) -> Call:
        """The call, once the caller may make it and its request is read."""
        settings = self.rt.settings
        target = upstream_target(scope)
        if not protocol.metered:
            self._paths.check(caller, scope["method"], scope["path"])
        ledger.admit(self.rt, metered=protocol.metered)  # 503 when no usage row could be kept
        budget = self.rt.budgets.check(caller.team) if self.rt.budgets else None
        body = await read_body(receive, headers, settings.max_body_bytes)
        request = None
        model = None
        if protocol.metered:
            request = _request_json(headers, body, settings.max_body_bytes)
            model = request.get("model")
            if model is not None and not isinstance(model, str):
                raise BadRequest("'model' must be a string.", param="model")
        call = Call(
            request_id=request_id,
            received_at=datetime.now(UTC),
            t0=t0,
            caller=caller,
            protocol=protocol,
            method=scope["method"],
            target=target,
            headers=headers,
            body=body,
            request=request,
            requested_model=model,
            routed_model=model,
            stream=bool(request and request.get("stream") is True),
            chain=(),
            deployment=self.rt.router.default,
            budget_remaining_g=budget.remaining_g if budget is not None else None,
        )
        if request is not None:
            await self._describe(call, request)
        call.chain = protocol.route(self.rt.router, call.routed_model)
        call.deployment = call.chain[0]
        return call

    async def _describe(self, call: Call, request: dict[str, Any]) -> None:
        """What a metered call is besides its bytes: its task shape (and a route rule that
        moves it to a smaller model), how the caller wants its footprint shown, its
        conversation and its end user."""
        rt, caller, endpoint = self.rt, call.caller, call.protocol.endpoint
        call.task_shape = shape_request(endpoint, request)
        decision = rt.rightsizing.route(
            team=caller.team, shape=call.task_shape, model=call.requested_model,
            headers=call.headers.map,
        )
        if decision is not None:
            call.routed_model, call.rerouted_from = decision.to, decision.from_model
        policy = call.display = rt.settings.display.policy(caller.team, caller.key_id)
        call.annotate = should_annotate(
            endpoint, request, enabled=policy.annotate,
            header=call.headers.get(ANNOTATE_HEADER), annotates_each_choice=not call.stream,
        )
        call.equivalents = wants_equivalents(policy, call.headers.get(EQUIVALENTS_HEADER))
        reference = conversation_id(call.headers.map, request, endpoint)
        if reference is not None:
            call.conversation_id = await rt.conversations.resolve(caller.team, reference)
            if call.annotate:
                call.conversation_wh = rt.conversations.running_wh(caller.team,
                                                                   call.conversation_id)
        call.end_user = rt.end_users.identify(request, endpoint, call.headers.map)

    async def _answer(self, call: Call, send: Send) -> None:
        """Forward the call, send its answer, record it; also when it fails or the client
        leaves (then the upstream request is cancelled with this task)."""
        try:
            answer = await self._forward(call)
        except asyncio.CancelledError:
            if call.client_gone:
                self._record_gone(call)
            raise
        except ProxyError as exc:
            await send_error(
                send, call.protocol.error_body(exc), exc.status, call.request_id,
                attempts=call.attempt + 1,
            )
            self._record_failure(call, exc, call.t0, final=True)
            return
        if call.annotate and call.conversation_id is not None and call.conversation_wh is None:
            call.conversation_wh = await self.rt.conversations.settled_wh(
                call.caller.team, call.conversation_id, wait_s=_FIRST_READ_WAIT_S
            )
        if isinstance(answer, BodyAnswer):
            await self._send_body(call, answer, send)
        else:
            await self._pump(call, answer, send)

    async def _forward(self, call: Call) -> Answer:
        """Try each deployment of the chain (with its retries) until one answers.

        Connection failures, 429 and 5xx move on to the next try while one is left; the
        last try's answer is relayed whatever it is. Every try is recorded as its own row.
        """
        settings = self.rt.settings
        tries = Tries(
            call.chain,
            retries=settings.upstream_retries,
            backoff_s=settings.upstream_backoff_s,
            max_wait_s=settings.upstream_retry_after_max_s,
        )
        while True:
            call.deployment, call.attempt = tries.deployment, tries.number
            t_try = perf_counter()
            try:
                return await self._exchange(call.protocol, call.deployment)(call, tries)
            except RetryableAnswer as exc:
                failure, retry_after = exc, exc.retry_after
            except ProxyError as exc:
                if not (retryable(exc.status) and tries.has_next()):
                    raise
                failure, retry_after = exc, None
            log.info("try %d of %s on %s failed (%s); trying again",
                     call.attempt, call.request_id, call.deployment.label, failure.code)
            self._record_failure(call, failure, t_try)
            delay = tries.advance(retry_after)
            if delay:
                await asyncio.sleep(delay)

    def _exchange(self, protocol: Protocol, dep: Deployment) -> Exchange:
        if protocol is MESSAGES and dep.provider != "anthropic":
            return self._via_chat
        if dep.translated and not protocol.anthropic_wire:
            return self._litellm
        return self._direct

    async def _send_body(self, call: Call, answer: BodyAnswer, send: Send) -> None:
        """Estimate, splice `impacts` into the body and headers, record, send."""
        recorder = self.rt.recorder
        event, imp = recorder.measure(
            call,
            status=answer.row_status or answer.status,
            usage=answer.usage if answer.metered else None,
            usage_source=answer.usage_source,
            served_model=answer.served_model,
            latency_s=call.upstream_wait_s,
            error_type=answer.error_type,
            response_id=_response_id(call, answer.parsed),
        )
        data, headers = answer.data, answer.headers
        annotated = False
        if imp is not None:
            doc = impacts_doc(imp, answer.usage_source, equivalents=call.equivalents)
            annotated = call.annotate and answer.parsed is not None and call.protocol.annotate(
                answer.parsed, _annotation(call, doc, event.energy_wh)
            )
            if annotated:
                data = orjson.dumps(answer.parsed)
            spliced = call.protocol.with_impacts(data, orjson.dumps(doc))
            if spliced is not None:
                data = spliced
            headers.extend(impact_headers(imp))
        headers.append((b"content-length", str(len(data)).encode()))
        call.finishing = True
        # Journaled before the answer leaves: a process killed while sending loses no row.
        recorder.record(event, duration_s=perf_counter() - call.t0)
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": data})
        elapsed = perf_counter() - call.t0
        recorder.finish(event, status=event.status_code, duration_s=elapsed,
                        overhead_s=elapsed - call.upstream_wait_s)
        parsed = answer.parsed
        if annotated and self.rt.rightsizing.shadow is not None:
            parsed = orjson.loads(answer.data)  # shadow compares the upstream's answer
        self.rt.rightsizing.after_answer(event, call.request, parsed)

    async def _pump(self, call: Call, answer: StreamAnswer, send: Send) -> None:
        """Send a stream's bytes as they come; meter and record it at the end."""
        recorder = self.rt.recorder
        measured: list[UsageEvent] = []
        docs: list[dict[str, Any]] = []

        def meter(usage: TokenUsage | None) -> bytes:
            source = "upstream"
            if usage is None:
                usage = local_usage(call, relay.output_texts())
                source = "estimated"
            event, imp = recorder.measure(
                call, status=answer.status, usage=usage, usage_source=source,
                served_model=relay.model, latency_s=perf_counter() - answer.t_sent,
                ttft_s=call.ttft_s, response_id=relay.response_id,
            )
            measured.append(event)
            if imp is None:
                return b"null"
            docs.append(impacts_doc(imp, source, equivalents=call.equivalents))
            return orjson.dumps(docs[-1])

        def annotation() -> str | None:
            return _annotation(call, docs[0], measured[0].energy_wh) if docs else None

        relay = answer.relay(meter, annotation if call.annotate else None)
        ledger.begin_stream(self.rt, call)  # an interrupted row, should the process die
        await send({"type": "http.response.start", "status": answer.status,
                    "headers": answer.headers})
        processing = 0.0
        failure: str | None = None
        try:
            async for chunk in answer.chunks:
                t = perf_counter()
                if call.ttft_s is None:
                    call.ttft_s = t - call.t0
                out = relay.feed(chunk)
                processing += perf_counter() - t
                if relay.complete:  # a client that leaves once it has the last event is done
                    call.finishing = True
                if out:
                    await send({"type": "http.response.body", "body": b"".join(out),
                                "more_body": True})
        except asyncio.CancelledError:
            if not call.client_gone:
                raise
        except (aiohttp.ClientError, TimeoutError, ProxyError) as exc:
            log.warning("upstream stream broke off for %s: %s", call.request_id, exc)
            failure = "upstream_stream_error"
        finally:
            answer.release()
        tail = relay.close()
        if failure is not None:
            tail.append(stream_error_frame(call.protocol.anthropic_wire))
        if not call.client_gone:
            call.finishing = True
            await send({"type": "http.response.body", "body": b"".join(tail),
                        "more_body": False})
        event = measured[0] if measured else recorder.measure(
            call, status=answer.status, usage=None, usage_source="none"
        )[0]
        if call.client_gone:
            event.status_code, event.error_type = 499, "client_disconnected"
        elif failure is not None or relay.error is not None:
            event.status_code, event.error_type = 502, failure or relay.error
        elapsed = perf_counter() - call.t0
        recorder.record(event, duration_s=elapsed)
        recorder.finish(event, status=event.status_code, duration_s=elapsed,
                        overhead_s=(answer.t_sent - call.t0) + processing)
        if not call.client_gone:
            self.rt.rightsizing.after_answer(event, call.request, "".join(relay.output_texts()))
        if call.client_gone:
            raise asyncio.CancelledError

    def _record_failure(
        self, call: Call, exc: ProxyError, t_start: float, *, final: bool = False
    ) -> None:
        recorder = self.rt.recorder
        event, _ = recorder.measure(
            call, status=exc.status, usage=None, usage_source="none", error_type=exc.code
        )
        log_upstream_failure(event, exc)
        now = perf_counter()
        recorder.record(event, duration_s=now - t_start)
        if final:
            elapsed = now - call.t0
            recorder.finish(event, status=exc.status, duration_s=elapsed,
                            overhead_s=max(elapsed - call.upstream_wait_s, 0.0))

    def _record_gone(self, call: Call) -> None:
        """The client left before the answer began: the prompt was sent, nothing came back."""
        recorder = self.rt.recorder
        usage = local_usage(call, ()) if call.protocol.metered else None
        event, _ = recorder.measure(
            call, status=499, usage=usage, usage_source="estimated" if usage else "none",
            latency_s=call.upstream_wait_s, error_type="client_disconnected",
        )
        elapsed = perf_counter() - call.t0
        recorder.record(event, duration_s=elapsed)
        recorder.finish(event, status=499, duration_s=elapsed,
                        overhead_s=max(elapsed - call.upstream_wait_s, 0.0))


async def _watch_disconnect(call: Call, receive: Receive, work: asyncio.Future[Any]) -> None:
    """Cancel `work` as soon as the client disconnects before its answer is complete."""
    while (await receive())["type"] != "http.disconnect":
        pass
    if not call.finishing:
        call.client_gone = True
        work.cancel()


def _annotation(call: Call, impacts: dict[str, Any], energy_wh: float) -> str:
    """The text appended to the answer: the line, after a blank line."""
    assert call.display is not None
    total = None if call.conversation_wh is None else call.conversation_wh + energy_wh
    return ANNOTATION_PREFIX + render_annotation(impacts, call.display, conversation_wh=total)


def _response_id(call: Call, body: dict[str, Any] | None) -> str | None:
    """A Responses answer's id, which a later `previous_response_id` may name."""
    if body is None or call.protocol.endpoint != "responses":
        return None
    value = body.get("id")
    return value if isinstance(value, str) and len(value) <= 200 else None


def _request_json(headers: Headers, body: bytes, limit: int) -> dict[str, Any]:
    """A metered call's JSON body, decoded first if the client compressed it."""
    encoding = headers.get(b"content-encoding")
    if encoding:
        body = decode_body(body, encoding, limit)
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"Request body is not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise BadRequest("Request body must be a JSON object.")
    return parsed
