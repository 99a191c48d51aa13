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

from proxy.protocols.base import Annotation, EventRelay, Meter, Protocol, is_error_event
from proxy.protocols.chat_completions import served_model
from proxy.sse import data_of, with_data
from proxy.sse import event as sse_event
from proxy.tokens import count_in, texts_in
from proxy.usage import TokenUsage, count, detail

_TERMINAL = (b"response.completed", b"response.incomplete", b"response.failed")
_FINISHED = frozenset({"completed", "incomplete"})
# Output items a client must act on: an answer holding one is never annotated.
_CLIENT_CALLS = frozenset(
    {"function_call", "custom_tool_call", "computer_call", "local_shell_call",
     "mcp_approval_request"}
)


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
        self, meter: Meter, request: dict[str, Any] | None, *, usage_asked: bool,
        annotation: Annotation | None = None,
    ) -> ResponsesStreamRelay:
        return ResponsesStreamRelay(meter, annotation=annotation)

    def annotate(self, body: dict[str, Any], text: str) -> bool:
        """The last output text of a finished answer without client tool calls gets `text`."""
        part = _last_text_part(body)
        if part is None:
            return False
        part["text"] += text
        return True


class ResponsesStreamRelay(EventRelay):
    """With an annotation to add, the events from the last `output_text.done` to the
    terminal event are held (they come in a burst at the end): once the terminal event
    shows the answer may be annotated, an `output_text.delta` with the annotation goes
    before them, the texts they repeat get it too, and their `sequence_number`s move up
    by one."""

    def __init__(self, meter: Meter, *, annotation: Annotation | None = None) -> None:
        super().__init__(meter)
        self._metered = False
        self._annotation = annotation
        self._held: list[bytes] = []  # from an output_text.done to the terminal event
        self._deltas: list[bytes] = []  # output_text.delta payloads, for local counting

    def _relay(self, event: bytes, out: list[bytes]) -> None:
        head = event[:96]
        if b"output_text.delta" in head:
            payload = data_of(event)
            if payload is not None:
                self._deltas.append(payload)
            self._release(out)  # more text follows: what was held was not the last
        elif self.model is None and b"response.created" in head:
            self.model = served_model(event)
            created = _parsed(event)
            response = created.get("response") if created is not None else None
            if isinstance(response, dict) and isinstance(response.get("id"), str):
                self.response_id = response["id"]
        elif any(kind in head for kind in _TERMINAL):
            self._terminal(event, out)
            return
        elif b"error" in head and is_error_event(event):
            self.error = "upstream_stream_error"
        elif self._annotation is not None and b"output_text.done" in head:
            self._release(out)
            self._held.append(event)
            return
        if self._held:
            self._held.append(event)
        else:
            out.append(event)

    def _release(self, out: list[bytes]) -> None:
        out.extend(self._held)
        self._held = []

    def _terminal(self, event: bytes, out: list[bytes]) -> None:
        try:
            data = orjson.loads(data_of(event) or b"")
            response = data["response"]
            usage = usage_of(response.get("usage"))
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            self._release(out)
            out.append(event)
            return
        if b"response.failed" in event[:96]:
            self.error = "upstream_response_failed"
        self._metered = self.complete = True
        response["impacts"] = orjson.Fragment(self._meter(usage))
        if self._held and self._annotation is not None and self._annotate(event, data, out):
            return
        self._release(out)
        out.append(with_data(event, orjson.dumps(data)))

    def _annotate(self, event: bytes, terminal: dict[str, Any], out: list[bytes]) -> bool:
        done = _parsed(self._held[0])
        part = _last_text_part(terminal["response"])
        if done is None or part is None or part is not _find_part(
            terminal["response"], done.get("item_id"), done.get("content_index")
        ):
            return False
        text = self._annotation() if self._annotation is not None else None
        if text is None:
            return False
        delta = {key: done.get(key) for key in ("item_id", "output_index", "content_index")}
        delta = {"type": "response.output_text.delta", "sequence_number":
                 done.get("sequence_number"), **delta, "delta": text, "logprobs": []}
        out.append(sse_event(orjson.dumps(delta), b"response.output_text.delta"))
        for held in self._held:
            data = _parsed(held)
            if data is None:
                out.append(held)
                continue
            _append_text(data, done, text)
            out.append(with_data(held, orjson.dumps(data)))
        self._held = []
        part["text"] += text
        _bump(terminal)
        out.append(with_data(event, orjson.dumps(terminal)))
        return True

    def _end(self, out: list[bytes]) -> None:
        self._release(out)
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



def _last_text_part(response: dict[str, Any]) -> dict[str, Any] | None:
    """The last `output_text` part of a finished response's last message, if the response
    may carry the annotation."""
    output = response.get("output")
    if response.get("status") not in _FINISHED or not isinstance(output, list):
        return None
    if any(isinstance(item, dict) and item.get("type") in _CLIENT_CALLS for item in output):
        return None
    for item in reversed(output):
        if isinstance(item, dict) and item.get("type") == "message":
            for part in reversed(item.get("content") or ()):
                if (isinstance(part, dict) and part.get("type") == "output_text"
                        and isinstance(part.get("text"), str)):
                    return part
            return None
    return None


def _find_part(response: dict[str, Any], item_id: Any, index: Any) -> dict[str, Any] | None:
    for item in response.get("output") or ():
        if isinstance(item, dict) and item.get("id") == item_id:
            content = item.get("content") or []
            if isinstance(index, int) and 0 <= index < len(content):
                return content[index]
    return None


def _parsed(event: bytes) -> dict[str, Any] | None:
    try:
        data = orjson.loads(data_of(event) or b"")
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def _append_text(data: dict[str, Any], done: dict[str, Any], text: str) -> None:
    """One held event with the annotation added to the text it repeats, one place later."""
    _bump(data)
    same_item = data.get("item_id") == done.get("item_id")
    index = done.get("content_index")
    kind = data.get("type")
    if kind == "response.output_text.done" and same_item and isinstance(data.get("text"), str):
        data["text"] += text
    elif kind == "response.content_part.done" and same_item:
        part = data.get("part")
        if isinstance(part, dict) and isinstance(part.get("text"), str):
            part["text"] += text
    elif kind == "response.output_item.done":
        item = data.get("item")
        if isinstance(item, dict) and item.get("id") == done.get("item_id"):
            content = item.get("content") or []
            if isinstance(index, int) and 0 <= index < len(content):
                if isinstance(content[index].get("text"), str):
                    content[index]["text"] += text


def _bump(data: dict[str, Any]) -> None:
    if isinstance(data.get("sequence_number"), int):
        data["sequence_number"] += 1
