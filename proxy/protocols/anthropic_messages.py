"""Anthropic Messages: `POST /v1/messages`.

Routed by `Router.route_messages`: to a model's Anthropic deployments (relayed as they
are) or its OpenAI-format ones (through `proxy.adapters.messages_chat`). On the way up
the gateway changes only the model name: the deployment's `upstream_model`, or the
`anthropic/` prefix some clients add, which Anthropic does not know. Errors the gateway
makes itself use Anthropic's envelope, `{"type": "error", "error": {"type", "message"}}`.

Usage: `input_tokens` excludes cache reads and writes, which Anthropic reports beside it,
so they are added in. In a stream, usage is `message_start`'s overlaid with the
cumulative `message_delta` usage (never summed), and `impacts` goes into the last
`message_delta`. An `error` event marks the call as failed.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson

from proxy.config import Deployment
from proxy.errors import ProxyError
from proxy.impacts import splice_field
from proxy.protocols.base import Annotation, EventRelay, Meter, Protocol, is_error_event
from proxy.routing import Router
from proxy.sse import data_of, with_data
from proxy.tokens import count_in, count_texts, texts_in
from proxy.usage import TokenUsage, count

# Anthropic's error `type` for an HTTP status.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_TOKENS_PER_MESSAGE = 3
TEXT_STOPS = frozenset({"end_turn", "max_tokens", "stop_sequence"})  # answers that end in text
_TOOL_BLOCKS = frozenset({"tool_use", "server_tool_use"})


def error_envelope(status: int, message: str) -> dict[str, Any]:
    """Anthropic's error envelope, with the `type` Anthropic uses for that status."""
    kind = ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


def error_body(status: int, message: str) -> bytes:
    return orjson.dumps(error_envelope(status, message))


def usage_of(usage: Any) -> TokenUsage | None:
    """Anthropic `usage`: total input = input + cache creation + cache read."""
    if not isinstance(usage, dict):
        return None
    cache_read = count(usage.get("cache_read_input_tokens"))
    cache_write = count(usage.get("cache_creation_input_tokens"))
    return TokenUsage(
        input_tokens=count(usage.get("input_tokens")) + cache_read + cache_write,
        output_tokens=count(usage.get("output_tokens")),
        cached_input_tokens=cache_read,
    )


class Messages(Protocol):
    endpoint = "messages"
    kind = "messages"
    anthropic_wire = True

    def route(self, router: Router, model: str | None) -> tuple[Deployment, ...]:
        return router.route_messages(model)

    def upstream_model(self, model: str | None, dep: Deployment) -> str | None:
        if dep.upstream_model is not None:
            return dep.upstream_model
        if dep.provider == "anthropic" and model is not None:
            return model.removeprefix("anthropic/")
        return model

    def usage(self, body: dict[str, Any]) -> TokenUsage | None:
        return usage_of(body.get("usage"))

    def input_tokens(self, request: dict[str, Any]) -> int:
        messages = request.get("messages")
        framing = _TOKENS_PER_MESSAGE * len(messages) if isinstance(messages, list) else 0
        return framing + count_in(messages) + count_in(request.get("system"))

    def output_texts(self, body: dict[str, Any]) -> list[str]:
        return list(texts_in(body.get("content")))

    def stream_relay(
        self, meter: Meter, request: dict[str, Any] | None, *, usage_asked: bool,
        annotation: Annotation | None = None,
    ) -> MessagesStreamRelay:
        return MessagesStreamRelay(meter, annotation=annotation)

    def annotate(self, body: dict[str, Any], text: str) -> bool:
        """A text block of its own at the end of an answer that ended in text."""
        content = body.get("content")
        if body.get("stop_reason") not in TEXT_STOPS or not isinstance(content, list):
            return False
        if any(isinstance(b, dict) and b.get("type") in _TOOL_BLOCKS for b in content):
            return False
        content.append({"type": "text", "text": text})
        return True

    def error_body(self, exc: ProxyError) -> bytes:
        return error_body(exc.status, exc.message)


class MessagesStreamRelay(EventRelay):
    """Each `message_delta` is held back until the next event shows whether it was the last
    one (normally the next event is `message_stop`); the last one carries `impacts`."""

    def __init__(self, meter: Meter, *, annotation: Annotation | None = None) -> None:
        super().__init__(meter)
        self._annotation = annotation
        self._blocks = 0  # content blocks started
        self._tool_use = False
        self._usage: dict[str, object] = {}
        self._held: bytes | None = None  # a message_delta event
        self._saw_delta = False
        self._metered = False
        self._deltas: list[bytes] = []  # content_block_delta payloads, for local counting

    def _relay(self, event: bytes, out: list[bytes]) -> None:
        head = event[:48]
        if b"content_block_delta" in head:
            payload = data_of(event)
            if payload is not None:
                self._deltas.append(payload)
            self._flush(out)
            out.append(event)
        elif b"message_start" in head:
            self._merge(event, "message")
            out.append(event)
        elif b"message_delta" in head:
            self._flush(out)
            self._merge(event, None)
            self._held = event
            self._saw_delta = True
        elif b"message_stop" in head:
            self._end(out, complete=True)
            out.append(event)
            self.complete = True
        elif b"content_block_start" in head:
            self._blocks += 1
            if self._annotation is not None and _block_type(event) in _TOOL_BLOCKS:
                self._tool_use = True
            self._flush(out)
            out.append(event)
        else:
            if b"error" in head and is_error_event(event):
                self.error = "upstream_stream_error"
            self._flush(out)
            out.append(event)

    def _merge(self, event: bytes, inner: str | None) -> None:
        try:
            data = orjson.loads(data_of(event) or b"")
            if inner is not None:
                data = data[inner]
                if self.model is None and isinstance(data.get("model"), str):
                    self.model = data["model"]
            usage = data.get("usage")
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            return
        if isinstance(usage, dict):
            self._usage.update((k, v) for k, v in usage.items() if v is not None)

    def _flush(self, out: list[bytes]) -> None:
        if self._held is not None:
            out.append(self._held)
            self._held = None

    def _end(self, out: list[bytes], *, complete: bool = False) -> None:
        if self._metered:
            self._flush(out)
            return
        self._metered = True
        usage = usage_of(self._usage) if self._usage else None
        if usage is not None and not self._saw_delta:
            # Cut before message_delta: message_start's output_tokens (1) is a placeholder.
            usage = replace(
                usage, output_tokens=max(usage.output_tokens, count_texts(self.output_texts()))
            )
        impacts = self._meter(usage)
        if self._held is None:
            return
        held, self._held = self._held, None
        payload = data_of(held) or b""
        if complete and self._annotation is not None and not self._tool_use:
            self._annotate(payload, out)
        spliced = splice_field(payload, b"impacts", impacts)
        out.append(held if spliced is None else with_data(held, spliced))

    def _annotate(self, delta_payload: bytes, out: list[bytes]) -> None:
        """A text block with the annotation before the final `message_delta`."""
        try:
            stop = orjson.loads(delta_payload)["delta"]["stop_reason"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return
        text = self._annotation() if stop in TEXT_STOPS and self._annotation else None
        if text is None:
            return
        out.extend(text_block(self._blocks, text))

    def output_texts(self) -> list[str]:
        texts = []
        for payload in self._deltas:
            try:
                delta = orjson.loads(payload).get("delta") or {}
            except (orjson.JSONDecodeError, AttributeError):
                continue
            for key in ("text", "thinking", "partial_json"):
                if isinstance(delta.get(key), str):
                    texts.append(delta[key])
        return texts


def _block_type(event: bytes) -> str | None:
    try:
        return orjson.loads(data_of(event) or b"")["content_block"]["type"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None


def text_block(index: int, text: str) -> list[bytes]:
    """The three events of a complete text block at `index`."""
    return [
        sse_event("content_block_start", {"type": "content_block_start", "index": index,
                                          "content_block": {"type": "text", "text": ""}}),
        sse_event("content_block_delta", {"type": "content_block_delta", "index": index,
                                          "delta": {"type": "text_delta", "text": text}}),
        sse_event("content_block_stop", {"type": "content_block_stop", "index": index}),
    ]


def sse_event(kind: str, data: dict[str, Any]) -> bytes:
    """An Anthropic-style event: `event:` line naming its type, then the JSON data."""
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"
