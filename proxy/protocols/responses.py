"""OpenAI Responses: `POST /v1/responses`.

Nothing is changed on the way up but the deployment's model name (a Responses stream
always reports its usage). `impacts` goes at the top level of a body; in a stream, into
the `response` object of the terminal event (`response.completed`, `response.incomplete`
or `response.failed`), the event the official SDKs hand back as the final response. A
`response.failed` or `error` event marks the call as failed.
"""

from __future__ import annotations

from typing import Any

import orjson

from proxy.protocols.base import EventRelay, Meter, Protocol, is_error_event
from proxy.protocols.chat_completions import served_model
from proxy.sse import data_of, with_data
from proxy.tokens import count_in, texts_in
from proxy.usage import TokenUsage, count, detail

_TERMINAL = (b"response.completed", b"response.incomplete", b"response.failed")


def usage_of(usage: Any) -> TokenUsage | None:
    """A Responses `usage` object (`input_tokens` / `output_tokens` with their details)."""
    if not isinstance(usage, dict):
        return None
    return TokenUsage(
        input_tokens=count(usage.get("input_tokens")),
        output_tokens=count(usage.get("output_tokens")),
        cached_input_tokens=detail(usage, "input_tokens_details", "cached_tokens"),
        reasoning_tokens=detail(usage, "output_tokens_details", "reasoning_tokens"),
    )


class Responses(Protocol):
    endpoint = "responses"
    kind = "responses"

    def usage(self, body: dict[str, Any]) -> TokenUsage | None:
        return usage_of(body.get("usage"))

    def input_tokens(self, request: dict[str, Any]) -> int:
        return count_in(request.get("input")) + count_in(request.get("instructions"))

    def output_texts(self, body: dict[str, Any]) -> list[str]:
        return list(texts_in(body.get("output")))

    def stream_relay(
        self, meter: Meter, request: dict[str, Any] | None, *, usage_asked: bool
    ) -> ResponsesStreamRelay:
        return ResponsesStreamRelay(meter)


class ResponsesStreamRelay(EventRelay):
    def __init__(self, meter: Meter) -> None:
        super().__init__(meter)
        self._metered = False
        self._deltas: list[bytes] = []  # output_text.delta payloads, for local counting

    def _relay(self, event: bytes, out: list[bytes]) -> None:
        head = event[:96]
        if b"output_text.delta" in head:
            payload = data_of(event)
            if payload is not None:
                self._deltas.append(payload)
        elif self.model is None and b"response.created" in head:
            self.model = served_model(event)
        elif any(kind in head for kind in _TERMINAL):
            event = self._terminal(event)
        elif b"error" in head and is_error_event(event):
            self.error = "upstream_stream_error"
        out.append(event)

    def _terminal(self, event: bytes) -> bytes:
        payload = data_of(event)
        try:
            data = orjson.loads(payload or b"")
            response = data["response"]
            usage = usage_of(response.get("usage"))
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            return event
        if b"response.failed" in event[:96]:
            self.error = "upstream_response_failed"
        self._metered = self.complete = True
        response["impacts"] = orjson.Fragment(self._meter(usage))
        return with_data(event, orjson.dumps(data))

    def _end(self, out: list[bytes]) -> None:
        if not self._metered:
            self._metered = True
            self._meter(None)

    def output_texts(self) -> list[str]:
        texts = []
        for payload in self._deltas:
            try:
                delta = orjson.loads(payload).get("delta")
            except (orjson.JSONDecodeError, AttributeError):
                continue
            if isinstance(delta, str):
                texts.append(delta)
        return texts

