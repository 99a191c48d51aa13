"""SSE relays: pass upstream events through as they arrive, tap the usage at the end.

Only the few events that matter are parsed: the chunk that carries a `finish_reason`,
the usage chunk, and a Responses stream's terminal event. Everything else is forwarded
byte for byte. Where impacts go follows the documented contract:

- Chat/Completions, client asked for usage: `impacts` rides on the usage chunk.
- Client did not ask: the gateway asked upstream anyway; the usage chunk and the
  `"usage":null` fields it caused are removed, and `impacts` rides on the last chunk
  with a `finish_reason` (held back until the usage chunk arrives right after it).
- Responses API: `impacts` goes into the `response` object of `response.completed`.
- Anthropic Messages: `impacts` goes into the last `message_delta` event; usage is the
  `message_start` usage overlaid with the (cumulative) `message_delta` usage, never summed.
- Anthropic Messages served by an OpenAI-format upstream: the chunks are translated into
  Anthropic events (`proxy.anthropic_translate`); `impacts` rides on the `message_delta`.

A relay is fed raw upstream bytes and returns the bytes to send; `meter(usage)` is
called once with the upstream usage, or with None when the stream gave none, and
returns the serialised impacts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

import orjson

from proxy.anthropic_translate import MessageStream
from proxy.impacts import splice_field
from proxy.tokens import count_texts
from proxy.usage import TokenUsage, from_anthropic, from_openai, from_responses

Meter = Callable[[TokenUsage | None], bytes]

_FINISH = re.compile(rb'"finish_reason":\s*"')
_EMPTY_CHOICES = re.compile(rb'"choices":\s*\[\s*\]')
_USAGE_OBJECT = re.compile(rb'"usage":\s*\{')
_NULL_USAGE = re.compile(rb',\s*"usage":\s*null')
_MODEL = re.compile(rb'"model":\s*"([^"\\]{1,200})"')
_DONE = b"[DONE]"
_RESPONSE_END = (b"response.completed", b"response.incomplete", b"response.failed")


def event_data(event: bytes) -> bytes:
    """The `data:` payload of one SSE event (multi-line data joined by newlines)."""
    if event.startswith(b"data: ") and event.count(b"\n") == 1:
        return event[6:].rstrip(b"\n")
    lines = [
        line[5:].removeprefix(b" ") for line in event.split(b"\n") if line.startswith(b"data:")
    ]
    return b"\n".join(lines)


def _served_model(payload: bytes) -> str | None:
    match = _MODEL.search(payload)
    return match.group(1).decode("utf-8", "replace") if match else None


def _event(payload: bytes) -> bytes:
    return b"data: " + payload + b"\n\n"


class _SSEBuffer:
    """Splits a byte stream into complete SSE events (each ending in a blank line)."""

    def __init__(self) -> None:
        self._pending = b""

    def split(self, chunk: bytes) -> list[bytes]:
        data = self._pending + chunk if self._pending else chunk
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n")
        events = []
        start = 0
        while (end := data.find(b"\n\n", start)) != -1:
            events.append(data[start : end + 2])
            start = end + 2
        self._pending = data[start:]
        return events

    def rest(self) -> bytes:
        rest, self._pending = self._pending, b""
        return rest


class _EventRelay:
    """Splits upstream bytes into SSE events; a subclass relays each one (`_relay`) and
    ends the stream (`_end`), metering it there if no event did."""

    def __init__(self, meter: Meter) -> None:
        self._meter = meter
        self._buffer = _SSEBuffer()
        self.model: str | None = None  # the model the upstream says it served

    def feed(self, chunk: bytes) -> list[bytes]:
        out: list[bytes] = []
        for event in self._buffer.split(chunk):
            self._relay(event, out)
        return out

    def close(self) -> list[bytes]:
        """End of the upstream stream, complete or cut."""
        out: list[bytes] = []
        rest = self._buffer.rest()
        if rest.strip():
            self._relay(rest + b"\n\n", out)
        self._end(out)
        return out

    def _relay(self, event: bytes, out: list[bytes]) -> None:
        raise NotImplementedError

    def _end(self, out: list[bytes]) -> None:
        raise NotImplementedError


class ChatStreamRelay(_EventRelay):
    """Relay for `/v1/chat/completions` and `/v1/completions` streams."""

    def __init__(self, meter: Meter, *, client_wants_usage: bool, usage_injected: bool) -> None:
        super().__init__(meter)
        self._client_wants_usage = client_wants_usage
        self._strip_null_usage = usage_injected and not client_wants_usage
        self._held: bytes | None = None  # a finish chunk's payload, waiting for the usage
        self._metered = False
        self.payloads: list[bytes] = []  # content events, kept for local counting

    def _end(self, out: list[bytes]) -> None:
        if not self._metered:
            self._flush_held(out, self._meter(None))
            self._metered = True

    def _relay(self, event: bytes, out: list[bytes]) -> None:
        payload = event_data(event)
        if payload == _DONE:
            if not self._metered:
                self._metered = True
                self._flush_held(out, self._meter(None))
            out.append(event)
            return
        if not payload.startswith(b"{"):
            out.append(event)  # comments, keep-alives
            return
        if self.model is None:
            self.model = _served_model(payload)
        if _USAGE_OBJECT.search(payload):
            self._on_usage(payload, out)
            return
        self.payloads.append(payload)
        if self._strip_null_usage:
            payload = _NULL_USAGE.sub(b"", payload)
            event = _event(payload)
        if _FINISH.search(payload):
            self._flush_held(out, None)
            self._held = payload
            return
        self._flush_held(out, None)
        out.append(event)

    def _on_usage(self, payload: bytes, out: list[bytes]) -> None:
        try:
            chunk = orjson.loads(payload)
        except orjson.JSONDecodeError:
            out.append(_event(payload))
            return
        impacts = self._meter(from_openai(chunk.get("usage")))
        self._metered = True
        if _EMPTY_CHOICES.search(payload):
            if self._client_wants_usage:
                self._flush_held(out, None)
                out.append(_event(splice_field(payload, b"impacts", impacts) or payload))
            else:
                self._flush_held(out, impacts)
            return
        # usage riding on a chunk that also has choices (some servers do this)
        self.payloads.append(payload)
        self._flush_held(out, None)
        out.append(_event(splice_field(payload, b"impacts", impacts) or payload))

    def _flush_held(self, out: list[bytes], impacts: bytes | None) -> None:
        if self._held is None:
            return
        held, self._held = self._held, None
        if impacts is not None:
            held = splice_field(held, b"impacts", impacts) or held
        out.append(_event(held))

    def output_texts(self) -> list[str]:
        """Generated text seen so far, for counting tokens locally."""
        texts = []
        for payload in self.payloads:
            try:
                chunk = orjson.loads(payload)
            except orjson.JSONDecodeError:
                continue
            for choice in chunk.get("choices") or ():
                delta = choice.get("delta") or {}
                for text in (delta.get("content"), delta.get("reasoning_content"),
                             choice.get("text")):
                    if isinstance(text, str):
                        texts.append(text)
                for call in delta.get("tool_calls") or ():
                    args = (call.get("function") or {}).get("arguments")
                    if isinstance(args, str):
                        texts.append(args)
        return texts


class ResponsesStreamRelay(_EventRelay):
    """Relay for `/v1/responses` streams: impacts go into `response.completed`."""

    def __init__(self, meter: Meter) -> None:
        super().__init__(meter)
        self._metered = False
        self._deltas: list[bytes] = []

    def _end(self, out: list[bytes]) -> None:
        if not self._metered:
            self._metered = True
            self._meter(None)

    def _relay(self, event: bytes, out: list[bytes]) -> None:
        out.append(self._rewrite(event))

    def _rewrite(self, event: bytes) -> bytes:
        head = event[:64]
        if b"output_text.delta" in head:
            self._deltas.append(event)
            return event
        if self.model is None and b"response.created" in head:
            self.model = _served_model(event)
        if not any(kind in head for kind in _RESPONSE_END):
            return event
        payload = event_data(event)
        try:
            data = orjson.loads(payload)
            response = data["response"]
            usage = from_responses(response.get("usage"))
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            return event
        self._metered = True
        response["impacts"] = orjson.Fragment(self._meter(usage))
        prefix = event[: event.find(b"data:")]
        return prefix + b"data: " + orjson.dumps(data) + b"\n\n"

    def output_texts(self) -> list[str]:
        texts = []
        for event in self._deltas:
            try:
                delta = orjson.loads(event_data(event)).get("delta")
            except orjson.JSONDecodeError:
                continue
            if isinstance(delta, str):
                texts.append(delta)
        return texts


class AnthropicStreamRelay(_EventRelay):
    """Relay for Anthropic `/v1/messages` streams.

    Each `message_delta` is held back until the next event shows whether it was the last
    one (normally the next event is `message_stop`); the last one carries `impacts`.
    """

    def __init__(self, meter: Meter) -> None:
        super().__init__(meter)
        self._usage: dict[str, object] = {}
        self._held: bytes | None = None  # a message_delta event
        self._saw_delta = False
        self._metered = False
        self._deltas: list[bytes] = []

    def _relay(self, event: bytes, out: list[bytes]) -> None:
        head = event[:48]
        if b"content_block_delta" in head:
            self._deltas.append(event)
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
            self._end(out)
            out.append(event)
        else:
            self._flush(out)
            out.append(event)

    def _merge(self, event: bytes, inner: str | None) -> None:
        try:
            data = orjson.loads(event_data(event))
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

    def _end(self, out: list[bytes]) -> None:
        if self._metered:
            self._flush(out)
            return
        self._metered = True
        usage = from_anthropic(self._usage) if self._usage else None
        if usage is not None and not self._saw_delta:
            # Cut before message_delta: message_start's output_tokens (1) is a placeholder.
            usage = replace(usage, output_tokens=max(usage.output_tokens,
                                                     count_texts(self.output_texts())))
        impacts = self._meter(usage)
        if self._held is None:
            return
        held, self._held = self._held, None
        prefix = held[: held.find(b"data:")]
        payload = splice_field(event_data(held), b"impacts", impacts)
        out.append(prefix + b"data: " + payload + b"\n\n" if payload is not None else held)

    def output_texts(self) -> list[str]:
        texts = []
        for event in self._deltas:
            try:
                delta = orjson.loads(event_data(event)).get("delta") or {}
            except (orjson.JSONDecodeError, AttributeError):
                continue
            for key in ("text", "thinking", "partial_json"):
                if isinstance(delta.get(key), str):
                    texts.append(delta[key])
        return texts


class ChatToMessagesRelay(_EventRelay):
    """Relay for `/v1/messages` calls served by an OpenAI-format upstream.

    Every chunk is parsed (the stream is rewritten into Anthropic's events by
    `MessageStream`); `impacts` goes into the final `message_delta`. A stream cut short
    (no `finish_reason`, no `[DONE]`) ends where the upstream stopped: it is metered, but
    no `message_stop` pretends it was complete.
    """

    def __init__(self, meter: Meter, stream: MessageStream) -> None:
        super().__init__(meter)
        self._stream = stream
        self._done = False

    def _end(self, out: list[bytes]) -> None:
        if not self._done:
            self._finish(out, complete=self._stream.complete)

    def _relay(self, event: bytes, out: list[bytes]) -> None:
        if self._done:
            return
        payload = event_data(event)
        if payload == _DONE:
            self._finish(out, complete=True)
            return
        if not payload.startswith(b"{"):
            return  # comments, keep-alives
        try:
            chunk = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return
        if isinstance(chunk, dict):
            out.extend(self._stream.feed(chunk))
            if self.model is None and isinstance(chunk.get("model"), str):
                self.model = chunk["model"]

    def _finish(self, out: list[bytes], *, complete: bool) -> None:
        self._done = True
        usage = from_openai(self._stream.usage)
        impacts = self._meter(usage)
        if complete:
            counted = None if usage is not None else count_texts(self._stream.texts)
            out.extend(self._stream.finish(impacts=impacts, output_tokens=counted))

    def output_texts(self) -> list[str]:
        return list(self._stream.texts)
