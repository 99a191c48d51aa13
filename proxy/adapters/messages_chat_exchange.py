"""A `/v1/messages` call served by an OpenAI-format deployment (vLLM, Ollama, OpenAI...).

The request goes up as a chat completion (`proxy.adapters.messages_chat.chat_request`);
the answer (body, stream or error) comes back in Anthropic's wire format. The stream is
parsed chunk by chunk and rewritten into Anthropic's events by `MessageStream`;
`impacts` rides on the final `message_delta`. The deployment's `stream_usage` setting
applies as for a direct Chat Completions stream (`proxy.stream_usage`).
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

import aiohttp
import orjson

from proxy.adapters.messages_chat import (
    MessageStream,
    chat_request,
    message_response,
    upstream_error_body,
)
from proxy.call import Call
from proxy.errors import UpstreamError
from proxy.exchange import Answer, BodyAnswer, StreamAnswer, retry_instead
from proxy.forward import (
    JSON_CONTENT,
    SSE_CONTENT,
    HeaderAllowList,
    downstream_headers,
    upstream_headers,
)
from proxy.protocols.anthropic_messages import error_body
from proxy.protocols.base import Annotation, EventRelay, Meter
from proxy.protocols.chat_completions import usage_of
from proxy.recorder import local_usage
from proxy.retries import Tries
from proxy.sse import data_of
from proxy.stream_usage import StreamUsagePolicy
from proxy.tokens import count_texts
from proxy.upstream import UpstreamClient, read_body

_DONE = b"[DONE]"


class MessagesViaChat:
    def __init__(
        self,
        upstream: UpstreamClient,
        *,
        stream_usage: StreamUsagePolicy,
        allowed_headers: HeaderAllowList,
    ) -> None:
        self._upstream = upstream
        self._stream_usage = stream_usage
        self._allowed = allowed_headers

    async def __call__(self, call: Call, tries: Tries) -> Answer:
        dep = call.deployment
        request = call.request or {}
        model = dep.upstream_model or call.routed_model or ""
        ask_usage = self._stream_usage.ask(dep)
        response, t_send = await self._send(call, request, model, ask_usage=ask_usage)
        try:
            status = response.status
            if ask_usage and call.stream and 400 <= status < 500 and status != 429:
                data = await read_body(response)
                if self._stream_usage.refused(dep, response.status, data):
                    response.release()
                    response, t_send = await self._send(call, request, model, ask_usage=False)
                else:
                    return self._error(call, response, data, t_send)
            return await self._answer(call, response, t_send, tries, request, model)
        except BaseException:
            response.close()
            raise

    async def _send(
        self, call: Call, request: dict[str, Any], model: str, *, ask_usage: bool
    ) -> tuple[aiohttp.ClientResponse, float]:
        dep = call.deployment
        body = orjson.dumps(chat_request(request, model=model, ask_usage=ask_usage))
        headers = upstream_headers(
            call, dep, self._allowed, body_changed=True, drop_prefixes=(b"anthropic-",)
        )
        t_send = perf_counter()
        response = await self._upstream.send(
            "POST",
            self._upstream.url(dep.base_url + "/chat/completions"),
            headers=headers,
            body=body,
            read_timeout_s=dep.timeout_s,
        )
        return response, t_send

    async def _answer(
        self, call: Call, response: aiohttp.ClientResponse, t_send: float, tries: Tries,
        request: dict[str, Any], model: str,
    ) -> Answer:
        status = response.status
        await retry_instead(call, response, t_send, tries)
        stop_sequences = request.get("stop_sequences")
        if response.content_type == "text/event-stream" and status < 300:
            call.upstream_wait_s += perf_counter() - t_send
            return StreamAnswer(
                status=status,
                headers=[SSE_CONTENT, *_headers(response, call)],
                chunks=response.content.iter_any(),
                t_sent=t_send,
                relay=lambda meter, annotation: ChatToMessagesRelay(
                    meter, MessageStream(model=model, stop_sequences=stop_sequences),
                    annotation=annotation,
                ),
                release=response.release,
            )
        data = await read_body(response)
        if status >= 400:
            return self._error(call, response, data, t_send)
        call.upstream_wait_s += perf_counter() - t_send
        try:
            chat = orjson.loads(data)
        except orjson.JSONDecodeError:
            chat = None
        if not isinstance(chat, dict):
            raise UpstreamError(
                f"Upstream {call.deployment.base_url} answered with something other than "
                "a chat completion."
            )
        message = message_response(chat, model=model, stop_sequences=stop_sequences)
        answer = BodyAnswer(
            status=status, headers=[JSON_CONTENT, *_headers(response, call)], data=b"",
            metered=True, parsed=message, served_model=message["model"],
            usage=usage_of(chat.get("usage")), usage_source="upstream",
        )
        if answer.usage is None:
            answer.usage = local_usage(call, call.protocol.output_texts(message))
            answer.usage_source = "estimated"
            message["usage"] = {"input_tokens": answer.usage.input_tokens,
                                "output_tokens": answer.usage.output_tokens}
        answer.data = orjson.dumps(message)
        return answer

    def _error(
        self, call: Call, response: aiohttp.ClientResponse, data: bytes, t_send: float
    ) -> BodyAnswer:
        call.upstream_wait_s += perf_counter() - t_send
        return BodyAnswer(
            status=response.status,
            headers=[JSON_CONTENT, *_headers(response, call)],
            data=upstream_error_body(response.status, data),
        )


def _headers(response: aiohttp.ClientResponse, call: Call) -> list[tuple[bytes, bytes]]:
    return [h for h in downstream_headers(response, call, decoded=True) if h[0] != b"content-type"]


class ChatToMessagesRelay(EventRelay):
    """Relay for a Chat Completions stream that the client reads as a Messages stream.

    Every chunk is parsed; `impacts` goes into the final `message_delta`. A stream cut
    short (no `finish_reason`, no `[DONE]`) ends where the upstream stopped: it is
    metered, but no `message_stop` pretends it was complete.
    """

    def __init__(
        self, meter: Meter, stream: MessageStream, *, annotation: Annotation | None = None
    ) -> None:
        super().__init__(meter)
        self._stream = stream
        self._annotation = annotation
        self._done = False

    def _relay(self, event: bytes, out: list[bytes]) -> None:
        if self._done:
            return
        payload = data_of(event)
        if payload == _DONE:
            self._finish(out, complete=True)
            return
        if payload is None or not payload.startswith(b"{"):
            return  # comments, keep-alives
        try:
            chunk = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return
        if not isinstance(chunk, dict):
            return
        if "error" in chunk and "choices" not in chunk:
            self.error = "upstream_stream_error"
            error = chunk["error"]
            message = error.get("message") if isinstance(error, dict) else error
            body = error_body(502, str(message or "Upstream stream failed."))
            out.append(b"event: error\ndata: " + body + b"\n\n")
            return
        out.extend(self._stream.feed(chunk))
        if self.model is None and isinstance(chunk.get("model"), str):
            self.model = chunk["model"]

    def _end(self, out: list[bytes]) -> None:
        if not self._done:
            self._finish(out, complete=self._stream.complete and self.error is None)

    def _finish(self, out: list[bytes], *, complete: bool) -> None:
        self._done = True
        usage = usage_of(self._stream.usage)
        impacts = self._meter(usage)
        if complete:
            counted = None if usage is not None else count_texts(self._stream.texts)
            text = self._annotation() if self._annotation is not None else None
            out.extend(self._stream.finish(impacts=impacts, output_tokens=counted,
                                           annotation=text))
            self.complete = True

    def output_texts(self) -> list[str]:
        return list(self._stream.texts)
