"""OpenAI Chat Completions: `POST /v1/chat/completions`.

On the way up the gateway may make one change besides the deployment's model name: a
streamed call whose client did not ask for usage gets `stream_options.include_usage`,
because a stream reports its tokens only when asked (see `proxy.stream_usage` for
upstreams that refuse the option).

On the way down, `impacts` goes at the top level of a body. In a stream:
- client asked for usage: `impacts` rides on the usage chunk;
- client did not ask: the usage chunk the gateway asked for is removed whatever its
  shape (`"choices": []`, `"choices": null` or no `choices` at all), as are the
  `"usage": null` fields the option adds to every chunk, and `impacts` rides on the last
  chunk with a `finish_reason` (held back until the usage chunk shows up behind it).
No chunk the client did not ask for is ever added. An `{"error": ...}` event after the
200 marks the call as failed; the event itself reaches the client as it came.

The usage object (`prompt_tokens`, `completion_tokens` and their `*_details`) is shared
with Completions and Embeddings, which import `usage_of` from here.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from proxy.config import Deployment
from proxy.impacts import splice_field
from proxy.protocols.base import Annotation, EventRelay, Meter, Protocol
from proxy.sse import data_of, with_data
from proxy.tokens import count_in, texts_in
from proxy.usage import TokenUsage, count, detail

# Per-message framing tokens of the chat format (OpenAI's cookbook counting recipe).
_TOKENS_PER_MESSAGE = 3
_TOKENS_PER_REPLY = 3

_FINISH = re.compile(rb'"finish_reason":\s*"')
_USAGE_OBJECT = re.compile(rb'"usage":\s*\{')
_NULL_USAGE = re.compile(rb',\s*"usage":\s*null|"usage":\s*null\s*,?')
_MODEL = re.compile(rb'"model":\s*"([^"\\]{1,200})"')
_DONE = b"[DONE]"
_TEXT_FINISHES = frozenset({"stop", "length"})
_TOOL_CALLS = re.compile(rb'"(?:tool_calls|function_call)":\s*[\[{]')


def usage_of(usage: Any) -> TokenUsage | None:
    """An OpenAI `usage` object (Chat Completions, Completions, Embeddings)."""
    if not isinstance(usage, dict):
        return None
    return TokenUsage(
        input_tokens=count(usage.get("prompt_tokens")),
        output_tokens=count(usage.get("completion_tokens")),
        cached_input_tokens=detail(usage, "prompt_tokens_details", "cached_tokens"),
        reasoning_tokens=detail(usage, "completion_tokens_details", "reasoning_tokens"),
    )


def served_model(payload: bytes) -> str | None:
    """The `model` a JSON payload names, read without parsing it."""
    match = _MODEL.search(payload)
    return match.group(1).decode("utf-8", "replace") if match else None


def client_wants_usage(request: dict[str, Any]) -> bool:
    options = request.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


class ChatCompletions(Protocol):
    endpoint = "chat.completions"
    kind = "chat"

    def stream_usage_missing(self, request: dict[str, Any]) -> bool:
        return request.get("stream") is True and not client_wants_usage(request)

    def upstream_body(
        self, request: dict[str, Any], dep: Deployment, *, model: str | None, ask_usage: bool
    ) -> dict[str, Any] | None:
        body = super().upstream_body(request, dep, model=model, ask_usage=ask_usage)
        if ask_usage and self.stream_usage_missing(request):
            options = request.get("stream_options")
            options = options if isinstance(options, dict) else {}
            body = {**(body or request), "stream_options": {**options, "include_usage": True}}
        return body

    def usage(self, body: dict[str, Any]) -> TokenUsage | None:
        return usage_of(body.get("usage"))

    def input_tokens(self, request: dict[str, Any]) -> int:
        messages = request.get("messages")
        if not isinstance(messages, list) or not messages:
            return 0
        return sum(_TOKENS_PER_MESSAGE + count_in(m) for m in messages) + _TOKENS_PER_REPLY

    def output_texts(self, body: dict[str, Any]) -> list[str]:
        texts: list[str] = []
        for choice in body.get("choices") or ():
            if isinstance(choice, dict):
                texts.extend(texts_in(choice.get("message")))
                if isinstance(choice.get("text"), str):
                    texts.append(choice["text"])
        return texts

    def stream_relay(
        self, meter: Meter, request: dict[str, Any] | None, *, usage_asked: bool,
        annotation: Annotation | None = None,
    ) -> ChatStreamRelay:
        wants = request is not None and client_wants_usage(request)
        return ChatStreamRelay(meter, client_wants_usage=wants, usage_asked=usage_asked,
                               annotation=annotation)

    def annotate(self, body: dict[str, Any], text: str) -> bool:
        """Each choice that ended in text (`stop` or `length`, no tool call) gets `text`."""
        done = False
        for choice in body.get("choices") or ():
            message = choice.get("message") if isinstance(choice, dict) else None
            if (isinstance(message, dict) and isinstance(message.get("content"), str)
                    and not message.get("tool_calls") and not message.get("function_call")
                    and choice.get("finish_reason") in _TEXT_FINISHES):
                message["content"] += text
                done = True
        return done


class ChatStreamRelay(EventRelay):
    """Relay for Chat Completions and Completions streams (`chat.completion.chunk` events)."""

    def __init__(
        self, meter: Meter, *, client_wants_usage: bool, usage_asked: bool,
        annotation: Annotation | None = None,
    ) -> None:
        super().__init__(meter)
        self._client_wants_usage = client_wants_usage
        self._strip_usage = usage_asked and not client_wants_usage
        self._annotation = annotation
        self._tool_calls = False  # a tool call streamed: the answer is not annotated
        self._held: tuple[bytes, bytes] | None = None  # a finish chunk (event, payload)
        self._metered = False
        self.payloads: list[bytes] = []  # content chunks, kept for local counting

    def _relay(self, event: bytes, out: list[bytes]) -> None:
        payload = data_of(event)
        if payload is None or not payload.startswith(b"{"):
            if payload == _DONE:
                self._end(out)
                self.complete = True
            out.append(event)  # [DONE], comments, keep-alives
            return
        if self.model is None:
            self.model = served_model(payload)
        if b'"usage"' in payload:
            if _USAGE_OBJECT.search(payload):
                self._on_usage(event, payload, out)
                return
            if self._strip_usage:
                stripped = _NULL_USAGE.sub(b"", payload)
                if stripped != payload:
                    payload, event = stripped, with_data(event, stripped)
        elif b'"error"' in payload and self._on_error(event, payload, out):
            return
        self.payloads.append(payload)
        if self._annotation is not None and _TOOL_CALLS.search(payload):
            self._tool_calls = True
        self._flush_held(out, None)
        if _FINISH.search(payload):
            self._held = (event, payload)
        else:
            out.append(event)

    def _on_usage(self, event: bytes, payload: bytes, out: list[bytes]) -> None:
        try:
            chunk = orjson.loads(payload)
        except orjson.JSONDecodeError:
            out.append(event)
            return
        impacts = self._meter(usage_of(chunk.get("usage")))
        self._metered = True
        if not chunk.get("choices"):  # a usage-only chunk: [], null or no choices key
            if self._client_wants_usage:
                self._flush_held(out, None)
                out.append(_spliced(event, payload, impacts))
            else:
                self._flush_held(out, impacts)  # the chunk the gateway asked for is dropped
            return
        # usage riding on a chunk that also has choices (some servers do this, on the
        # finish chunk): relayed like a held finish chunk, so it is annotated too
        self.payloads.append(payload)
        if self._annotation is not None and _TOOL_CALLS.search(payload):
            self._tool_calls = True
        if self._strip_usage:
            del chunk["usage"]
            payload = orjson.dumps(chunk)
        self._flush_held(out, None)
        self._held = (event, payload)
        self._flush_held(out, impacts)

    def _on_error(self, event: bytes, payload: bytes, out: list[bytes]) -> bool:
        try:
            chunk = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return False
        if not isinstance(chunk, dict) or "error" not in chunk or "choices" in chunk:
            return False
        self.error = "upstream_stream_error"
        self._flush_held(out, None)
        out.append(event)
        return True

    def _end(self, out: list[bytes]) -> None:
        if self._metered:
            self._flush_held(out, None)
            return
        self._metered = True
        self._flush_held(out, self._meter(None))

    def _flush_held(self, out: list[bytes], impacts: bytes | None) -> None:
        if self._held is None:
            return
        (event, payload), self._held = self._held, None
        if self._metered and self._annotation is not None and not self._tool_calls:
            event, payload = self._annotate(event, payload, out)
        out.append(event if impacts is None else _spliced(event, payload, impacts))

    def _annotate(self, event: bytes, finish_payload: bytes, out: list[bytes]
                  ) -> tuple[bytes, bytes]:
        """The annotation for every choice that ends in text: a content chunk of its own
        just before the finish chunk or, when the finish chunk carries the choice's last
        text (some servers send both together), appended to that text. Returns the finish
        chunk's event and payload, changed or not."""
        try:
            finish = orjson.loads(finish_payload)
        except orjson.JSONDecodeError:
            return event, finish_payload
        ending = [c for c in finish.get("choices") or ()
                  if isinstance(c, dict) and c.get("finish_reason") in _TEXT_FINISHES]
        text = self._annotation() if ending and self._annotation is not None else None
        if text is None:
            return event, finish_payload
        self._annotation = None
        alone = []
        for choice in ending:
            delta = choice.get("delta")
            if isinstance(delta, dict) and isinstance(delta.get("content"), str) and (
                    delta["content"]):
                delta["content"] += text
            else:
                alone.append(choice.get("index", 0))
        if alone:
            chunk = {k: v for k, v in finish.items() if k not in ("choices", "usage", "impacts")}
            chunk["choices"] = [{"index": i, "delta": {"content": text}, "finish_reason": None}
                                for i in alone]
            out.append(b"data: " + orjson.dumps(chunk) + b"\n\n")
        if len(alone) == len(ending):
            return event, finish_payload
        payload = orjson.dumps(finish)
        return with_data(event, payload), payload

    def output_texts(self) -> list[str]:
        texts = []
        for payload in self.payloads:
            try:
                chunk = orjson.loads(payload)
            except orjson.JSONDecodeError:
                continue
            for choice in chunk.get("choices") or ():
                if not isinstance(choice, dict):
                    continue
                delta = choice.get("delta") or {}
                for text in (delta.get("content"), delta.get("reasoning_content"),
                             delta.get("reasoning"), choice.get("text")):
                    if isinstance(text, str):
                        texts.append(text)
                for call in delta.get("tool_calls") or ():
                    args = (call.get("function") or {}).get("arguments")
                    if isinstance(args, str):
                        texts.append(args)
        return texts


def _spliced(event: bytes, payload: bytes, impacts: bytes) -> bytes:
    spliced = splice_field(payload, b"impacts", impacts)
    return event if spliced is None else with_data(event, spliced)
