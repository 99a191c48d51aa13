"""Scripted upstream answers in each wire format, with the quirks real servers have.

Each builder returns a `Script` (capture -> reply) that answers the way the real server
would for that request: OpenAI-style streams add `"usage":null` fields and a usage chunk
only when the request asked with `stream_options.include_usage`, so a direct call and a
call through Wattgate (which asks on the client's behalf) get what each would get from the
real thing. Bodies are serialised as the real servers do: OpenAI's non-streamed JSON is
pretty-printed, stream chunks are compact.

Quirks, each a keyword: SSE line endings (`eol`: CRLF, LF or a bare CR), keep-alive
comments, the four shapes a usage chunk comes in, gzip on the wire, an error event after a
200, parallel and shared-index tool-call deltas, a 4xx naming `stream_options`.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from tests.conformance.upstream import Capture, Piece, Reply, Script

UsageShape = Literal["empty_choices", "no_choices", "null_choices", "on_finish_chunk"]
USAGE_SHAPES: tuple[UsageShape, ...] = ("empty_choices", "no_choices", "null_choices",
                                        "on_finish_chunk")
EOLS = {"crlf": b"\r\n", "lf": b"\n", "cr": b"\r"}

CHAT_USAGE = {"prompt_tokens": 17, "completion_tokens": 5, "total_tokens": 22,
              "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
              "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                            "accepted_prediction_tokens": 0,
                                            "rejected_prediction_tokens": 0}}
CREATED = 1767225600
UPSTREAM_REQUEST_ID = "req_upstream_7f3a"


def compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def pretty(value: Any) -> bytes:
    return json.dumps(value, indent=2, ensure_ascii=False).encode() + b"\n"


def openai_headers(content_type: str) -> list[tuple[str, str]]:
    """What api.openai.com sends beside the body (case as on the wire)."""
    return [
        ("Date", "Thu, 01 Jan 2026 00:00:00 GMT"),
        ("Content-Type", content_type),
        ("Connection", "keep-alive"),
        ("openai-organization", "org-upstream"),
        ("openai-processing-ms", "112"),
        ("openai-version", "2020-10-01"),
        ("x-ratelimit-limit-requests", "10000"),
        ("x-ratelimit-remaining-requests", "9999"),
        ("x-request-id", UPSTREAM_REQUEST_ID),
        ("Set-Cookie", "__cf_bm=abc; path=/; HttpOnly"),
        ("Server", "cloudflare"),
    ]


def asks_usage(capture: Capture) -> bool:
    body = capture.json() or {}
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def json_reply(body: bytes, *, status: int = 200, headers: list[tuple[str, str]] | None = None,
               gzip_body: bool = False, reason: str = "OK") -> Reply:
    headers = list(headers if headers is not None else openai_headers("application/json"))
    pieces = [Piece(body)]
    if gzip_body:
        headers.append(("Content-Encoding", "gzip"))
        pieces = gzip_pieces(pieces)
    return Reply(status, headers, pieces, reason=reason)


def gzip_pieces(pieces: Sequence[Piece]) -> list[Piece]:
    """The pieces compressed as one gzip stream, each flushed so it can be read on arrival
    (the last one ends the gzip stream, so a client that stops at `[DONE]` has it all)."""
    compressor = zlib.compressobj(wbits=31)
    out = [Piece(compressor.compress(p.data) + compressor.flush(zlib.Z_SYNC_FLUSH), p.delay_s)
           for p in pieces[:-1]]
    last = pieces[-1]
    return [*out, Piece(compressor.compress(last.data) + compressor.flush(), last.delay_s)]


def sse_reply(events: Iterable[bytes], *, eol: bytes = b"\n", delay_s: float = 0.0,
              gzip_body: bool = False, headers: list[tuple[str, str]] | None = None) -> Reply:
    """`events` (each its field lines joined by LF, without the blank line; a comment is
    an event too) sent one piece each, `delay_s` apart, with `eol` ending every line."""
    pieces = [Piece(event.replace(b"\n", eol) + eol + eol, delay_s) for event in events]
    headers = list(headers if headers is not None else openai_headers("text/event-stream; "
                                                                      "charset=utf-8"))
    if gzip_body:
        headers.append(("Content-Encoding", "gzip"))
        pieces = gzip_pieces(pieces)
    return Reply(200, headers, pieces, framing="chunked")


def error_reply(status: int, message: str, *, param: str | None = None,
                kind: str = "invalid_request_error", reason: str = "Bad Request") -> Reply:
    body = pretty({"error": {"message": message, "type": kind, "param": param, "code": None}})
    return json_reply(body, status=status, reason=reason)


# --- chat completions --------------------------------------------------------------------


def text_deltas(*parts: str) -> list[dict[str, Any]]:
    """Content deltas as OpenAI sends them: the role first, then the text pieces."""
    return [{"role": "assistant", "content": "", "refusal": None},
            *({"content": p} for p in parts)]


PARALLEL_TOOL_DELTAS = [  # OpenAI: each call its own index, arguments in pieces
    {"role": "assistant", "content": None, "tool_calls": [
        {"index": 0, "id": "call_weather", "type": "function",
         "function": {"name": "get_weather", "arguments": ""}}]},
    {"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":"}}]},
    {"tool_calls": [{"index": 0, "function": {"arguments": " \"Paris\"}"}}]},
    {"tool_calls": [{"index": 1, "id": "call_time", "type": "function",
                     "function": {"name": "get_time", "arguments": ""}}]},
    {"tool_calls": [{"index": 1, "function": {"arguments": "{\"tz\": \"CET\"}"}}]},
]
SHARED_INDEX_TOOL_DELTAS = [  # Ollama: index 0 for every call, each call whole in one delta
    {"role": "assistant", "content": "", "tool_calls": [
        {"id": "call_weather", "index": 0, "type": "function",
         "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
    {"role": "assistant", "content": "", "tool_calls": [
        {"id": "call_time", "index": 0, "type": "function",
         "function": {"name": "get_time", "arguments": "{\"tz\":\"CET\"}"}}]},
]
TOOL_CALLS = [("call_weather", "get_weather", {"city": "Paris"}),
              ("call_time", "get_time", {"tz": "CET"})]


@dataclass
class ChatStream:
    """A `/chat/completions` stream as OpenAI (and servers copying it) sends it."""

    deltas: list[dict[str, Any]] = field(
        default_factory=lambda: text_deltas("Hel", "lo", " there", "!"))
    finish_reason: str = "stop"
    usage: dict[str, Any] = field(default_factory=lambda: dict(CHAT_USAGE))
    usage_shape: UsageShape = "empty_choices"
    eol: bytes = b"\n"
    keepalive: bool = False  # a `: ping` comment before each delta
    delay_s: float = 0.0
    model: str = "gpt-4o-mini-2024-07-18"
    error_after: int | None = None  # an error event after this many deltas, then the end
    hang_after: int | None = None  # after this many events, wait `hang_s` before the rest
    hang_s: float = 30.0
    gzip_body: bool = False

    def _chunk(self, choices: Any, *, usage: Any = ..., with_choices: bool = True) -> bytes:
        chunk: dict[str, Any] = {"id": "chatcmpl-conf1", "object": "chat.completion.chunk",
                                 "created": CREATED, "model": self.model,
                                 "service_tier": "default",
                                 "system_fingerprint": "fp_conf"}
        if with_choices:
            chunk["choices"] = choices
        if usage is not ...:
            chunk["usage"] = usage
        return b"data: " + compact(chunk)

    def events(self, capture: Capture) -> list[bytes]:
        usage_asked = asks_usage(capture)
        null_usage: Any = None if usage_asked and self.usage_shape != "on_finish_chunk" else ...
        out = []
        for n, delta in enumerate(self.deltas):
            if self.error_after is not None and n == self.error_after:
                out.append(b"data: " + compact({"error": {
                    "message": "The server had an error while processing your request.",
                    "type": "server_error", "param": None, "code": None}}))
                return out
            if self.keepalive:
                out.append(b": ping")
            out.append(self._chunk([{"index": 0, "delta": delta, "logprobs": None,
                                     "finish_reason": None}], usage=null_usage))
        finish = [{"index": 0, "delta": {}, "logprobs": None,
                   "finish_reason": self.finish_reason}]
        if usage_asked and self.usage_shape == "on_finish_chunk":
            out.append(self._chunk(finish, usage=self.usage))
        else:
            out.append(self._chunk(finish, usage=null_usage))
        if usage_asked and self.usage_shape != "on_finish_chunk":
            choices = {"empty_choices": [], "null_choices": None, "no_choices": None}
            out.append(self._chunk(choices[self.usage_shape], usage=self.usage,
                                   with_choices=self.usage_shape != "no_choices"))
        out.append(b"data: [DONE]")
        return out

    def __call__(self, capture: Capture) -> Reply:
        reply = sse_reply(self.events(capture), eol=self.eol, delay_s=self.delay_s,
                          gzip_body=self.gzip_body)
        if self.hang_after is not None:
            at = self.hang_after
            reply.pieces[at] = Piece(reply.pieces[at].data, self.hang_s)
        return reply


@dataclass
class ChatCompletion:
    """A non-streamed `/chat/completions` answer (pretty-printed, as OpenAI sends it)."""

    content: str | None = "Hello there!"
    tool_calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    finish_reason: str = "stop"
    usage: dict[str, Any] | None = field(default_factory=lambda: dict(CHAT_USAGE))
    model: str = "gpt-4o-mini-2024-07-18"
    gzip_body: bool = False
    head_delay_s: float = 0.0

    def body(self) -> bytes:
        message: dict[str, Any] = {"role": "assistant", "content": self.content,
                                   "refusal": None, "annotations": []}
        if self.tool_calls:
            message["tool_calls"] = [
                {"id": i, "type": "function",
                 "function": {"name": name, "arguments": json.dumps(args)}}
                for i, name, args in self.tool_calls]
        doc: dict[str, Any] = {
            "id": "chatcmpl-conf2", "object": "chat.completion", "created": CREATED,
            "model": self.model,
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": self.finish_reason}],
        }
        if self.usage is not None:
            doc["usage"] = self.usage
        doc.update(service_tier="default", system_fingerprint="fp_conf")
        return pretty(doc)

    def __call__(self, capture: Capture) -> Reply:
        reply = json_reply(self.body(), gzip_body=self.gzip_body)
        reply.head_delay_s = self.head_delay_s
        return reply


def rejects_stream_options(then: Script, *, style: Literal["openai", "pydantic"] = "openai"
                           ) -> Script:
    """A strict server: a 4xx naming `stream_options` when the body has it, else `then`."""

    def script(capture: Capture) -> Reply:
        if "stream_options" not in (capture.json() or {}):
            return then(capture)
        if style == "openai":  # Azure OpenAI on an older api-version
            return error_reply(400, "Unrecognized request argument supplied: stream_options")
        body = compact({"detail": [{"type": "extra_forbidden", "loc": ["body", "stream_options"],
                                    "msg": "Extra inputs are not permitted",
                                    "input": {"include_usage": True}}]})
        return json_reply(body, status=422, headers=[("content-type", "application/json")],
                          reason="Unprocessable Entity")

    return script


# --- completions and embeddings ----------------------------------------------------------


@dataclass
class CompletionStream:
    """A legacy `/completions` stream."""

    texts: tuple[str, ...] = ("Once", " upon", " a", " time")
    usage: dict[str, Any] = field(default_factory=lambda: {
        "prompt_tokens": 4, "completion_tokens": 4, "total_tokens": 8})
    eol: bytes = b"\n"

    def _chunk(self, choices: Any, **extra: Any) -> bytes:
        return b"data: " + compact({"id": "cmpl-conf3", "object": "text_completion",
                                    "created": CREATED, "model": "gpt-3.5-turbo-instruct",
                                    "choices": choices, **extra})

    def __call__(self, capture: Capture) -> Reply:
        usage_asked = asks_usage(capture)
        extra = {"usage": None} if usage_asked else {}
        events = [self._chunk([{"text": t, "index": 0, "logprobs": None,
                                "finish_reason": None}], **extra) for t in self.texts]
        events.append(self._chunk([{"text": "", "index": 0, "logprobs": None,
                                    "finish_reason": "length"}], **extra))
        if usage_asked:
            events.append(self._chunk([], usage=self.usage))
        events.append(b"data: [DONE]")
        return sse_reply(events, eol=self.eol)


def completion(capture: Capture) -> Reply:
    return json_reply(pretty({
        "id": "cmpl-conf4", "object": "text_completion", "created": CREATED,
        "model": "gpt-3.5-turbo-instruct",
        "choices": [{"text": "Once upon a time", "index": 0, "logprobs": None,
                     "finish_reason": "length"}],
        "usage": {"prompt_tokens": 4, "completion_tokens": 4, "total_tokens": 8}}))


@dataclass
class Embedding:
    gzip_body: bool = False

    def __call__(self, capture: Capture) -> Reply:
        body = pretty({"object": "list",
                       "data": [{"object": "embedding", "index": 0,
                                 "embedding": "AACAPwAAAEAAAEBA"}],
                       "model": "text-embedding-3-small",
                       "usage": {"prompt_tokens": 6, "total_tokens": 6}})
        return json_reply(body, gzip_body=self.gzip_body)


# --- responses ---------------------------------------------------------------------------

RESPONSES_USAGE = {"input_tokens": 21, "input_tokens_details": {"cached_tokens": 0},
                   "output_tokens": 4, "output_tokens_details": {"reasoning_tokens": 0},
                   "total_tokens": 25}


def _response_object(status: str, usage: Any, text: str | None) -> dict[str, Any]:
    output = [] if text is None else [{
        "id": "msg_conf", "type": "message", "status": "completed", "role": "assistant",
        "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": text}]}]
    return {"id": "resp_conf", "object": "response", "created_at": CREATED, "status": status,
            "model": "gpt-4o-mini-2024-07-18", "output": output, "usage": usage}


def response(capture: Capture) -> Reply:
    return json_reply(pretty(_response_object("completed", RESPONSES_USAGE, "Hi there")))


@dataclass
class ResponseStream:
    eol: bytes = b"\n"

    def __call__(self, capture: Capture) -> Reply:
        seq = iter(range(100))

        def event(kind: str, **data: Any) -> bytes:
            return (b"event: " + kind.encode() + b"\ndata: "
                    + compact({"type": kind, "sequence_number": next(seq), **data}))

        events = [event("response.created", response=_response_object("in_progress", None,
                                                                       None)),
                  event("response.in_progress", response=_response_object("in_progress", None,
                                                                          None))]
        events += [event("response.output_text.delta", item_id="msg_conf", output_index=0,
                         content_index=0, delta=d, logprobs=[]) for d in ("Hi", " there")]
        events.append(event("response.completed",
                            response=_response_object("completed", RESPONSES_USAGE,
                                                      "Hi there")))
        return sse_reply(events, eol=self.eol)


# --- anthropic messages ------------------------------------------------------------------

ANTHROPIC_USAGE = {"input_tokens": 25, "cache_creation_input_tokens": 0,
                   "cache_read_input_tokens": 0, "output_tokens": 6}


def anthropic_headers(content_type: str) -> list[tuple[str, str]]:
    return [("Date", "Thu, 01 Jan 2026 00:00:00 GMT"), ("Content-Type", content_type),
            ("Connection", "keep-alive"), ("request-id", "req_011CAnthropic"),
            ("anthropic-organization-id", "org-anthropic"), ("Server", "cloudflare")]


def anthropic_message(capture: Capture) -> Reply:
    body = compact({"id": "msg_01Conf", "type": "message", "role": "assistant",
                    "model": "claude-sonnet-4-6",
                    "content": [{"type": "text", "text": "Hello there!"}],
                    "stop_reason": "end_turn", "stop_sequence": None, "usage": ANTHROPIC_USAGE})
    return json_reply(body, headers=anthropic_headers("application/json"))


@dataclass
class AnthropicStream:
    eol: bytes = b"\n"

    def __call__(self, capture: Capture) -> Reply:
        def event(kind: str, data: dict[str, Any]) -> bytes:
            return b"event: " + kind.encode() + b"\ndata: " + compact({"type": kind, **data})

        start = {"id": "msg_01Conf", "type": "message", "role": "assistant", "content": [],
                 "model": "claude-sonnet-4-6", "stop_reason": None,
                 "stop_sequence": None, "usage": {**ANTHROPIC_USAGE, "output_tokens": 1}}
        events = [event("message_start", {"message": start}),
                  event("content_block_start",
                        {"index": 0, "content_block": {"type": "text", "text": ""}}),
                  event("ping", {})]
        events += [event("content_block_delta",
                         {"index": 0, "delta": {"type": "text_delta", "text": t}})
                   for t in ("Hello", " there!")]
        events += [event("content_block_stop", {"index": 0}),
                   event("message_delta", {"delta": {"stop_reason": "end_turn",
                                                     "stop_sequence": None},
                                           "usage": {"output_tokens": 6}}),
                   event("message_stop", {})]
        return sse_reply(events, eol=self.eol,
                         headers=anthropic_headers("text/event-stream; charset=utf-8"))
