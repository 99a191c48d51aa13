"""Anthropic Messages <-> OpenAI Chat Completions, for `/v1/messages` on OpenAI-format upstreams.

Pure functions and one small state machine; no I/O, no litellm. The gateway uses them when
a Messages call (an Anthropic SDK client, Claude Code...) is routed to an OpenAI-compatible
deployment (OpenAI, vLLM, Ollama, llama.cpp...):

- `chat_request`: a Messages request body -> a Chat Completions request body;
- `message_response`: a `chat.completion` body -> a Message body;
- `MessageStream`: `chat.completion.chunk`s in -> Anthropic SSE events out
  (`message_start`, `content_block_start`, `ping`, `content_block_delta`,
  `content_block_stop`, `message_delta`, `message_stop`);
- `upstream_error_body`: an OpenAI-format error answer in Anthropic's envelope.

Tool calls: every tool call `id` is its own `tool_use` block, even when an upstream gives
several calls the same `index` (Ollama numbers every call 0); a reply that carries tool
calls stops with `tool_use` whatever its `finish_reason` says (Ollama, and OpenAI when
`tool_choice` names a function, say `stop`), so an Anthropic client runs the tools.

Token accounting: OpenAI's `prompt_tokens` includes cached tokens, Anthropic's
`input_tokens` does not, so `input_tokens = prompt_tokens - cached_tokens` and
`cache_read_input_tokens = cached_tokens`.

Supported request content: text, images (base64 or URL), `tool_use` / `tool_result`
and client tools. Server tools and documents are refused with a 400; `thinking`,
`top_k` and other Anthropic-only options are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from proxy.errors import BadRequest
from proxy.protocols.anthropic_messages import error_body
from proxy.usage import count

# OpenAI finish_reason -> Anthropic stop_reason
STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}

_DROPPED_BLOCKS = frozenset({"thinking", "redacted_thinking"})


# --- request -----------------------------------------------------------------------------


def chat_request(request: dict[str, Any], *, model: str, ask_usage: bool = True) -> dict[str, Any]:
    """The Chat Completions body for a Messages request; raises `BadRequest` on what cannot map.

    `ask_usage`: a stream asks for its usage (`stream_options`), as Anthropic streams
    always report it.
    """
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty list.", param="messages")
    out: list[dict[str, Any]] = []
    system = request.get("system")
    if system:
        out.append({"role": "system", "content": _joined_text(system, "system")})
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise BadRequest(f"messages[{i}] must have role 'user' or 'assistant'.",
                             param=f"messages.{i}")
        if message["role"] == "user":
            out.extend(_user_messages(message.get("content"), i))
        else:
            out.append(_assistant_message(message.get("content"), i))

    body: dict[str, Any] = {"model": model, "messages": out}
    if request.get("max_tokens") is not None:
        body["max_tokens"] = request["max_tokens"]
    for key in ("temperature", "top_p"):
        if request.get(key) is not None:
            body[key] = request[key]
    stop = request.get("stop_sequences")
    if stop:
        body["stop"] = stop
    metadata = request.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        body["user"] = metadata["user_id"]
    tools = request.get("tools")
    if tools:
        body["tools"] = [_tool(t, n) for n, t in enumerate(tools)]
    choice = request.get("tool_choice")
    if isinstance(choice, dict):
        _tool_choice(choice, body)
    if request.get("stream") is True:
        body["stream"] = True
        if ask_usage:
            body["stream_options"] = {"include_usage": True}
    return body


def _joined_text(value: Any, where: str) -> str:
    """A string, or the texts of a list of text blocks joined by newlines."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        texts = []
        for block in value:
            if not isinstance(block, dict) or block.get("type") != "text":
                raise BadRequest(f"'{where}' may only hold text blocks.", param=where)
            texts.append(str(block.get("text", "")))
        return "\n".join(texts)
    raise BadRequest(f"'{where}' must be a string or a list of text blocks.", param=where)


def _blocks(content: Any, i: int) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, list) and all(isinstance(b, dict) for b in content):
        return content
    raise BadRequest(f"messages[{i}].content must be a string or a list of content blocks.",
                     param=f"messages.{i}.content")


def _user_messages(content: Any, i: int) -> list[dict[str, Any]]:
    """One user turn: its tool results become `tool` messages, placed first, then the rest."""
    tool_results: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for block in _blocks(content, i):
        kind = block.get("type")
        if kind == "text":
            parts.append({"type": "text", "text": str(block.get("text", ""))})
        elif kind == "image":
            parts.append(_image(block, i))
        elif kind == "tool_result":
            tool_results.append({
                "role": "tool",
                "tool_call_id": str(block.get("tool_use_id", "")),
                "content": _tool_result_text(block, i),
            })
        elif kind in _DROPPED_BLOCKS:
            continue
        else:
            raise _unsupported(kind, i)
    out = tool_results
    if parts:
        out.append({"role": "user", "content": _content(parts)})
    return out


def _assistant_message(content: Any, i: int) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in _blocks(content, i):
        kind = block.get("type")
        if kind == "text":
            texts.append(str(block.get("text", "")))
        elif kind == "tool_use":
            calls.append({
                "id": str(block.get("id", "")),
                "type": "function",
                "function": {"name": str(block.get("name", "")),
                             "arguments": orjson.dumps(block.get("input") or {}).decode()},
            })
        elif kind in _DROPPED_BLOCKS:
            continue
        else:
            raise _unsupported(kind, i)
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        message["tool_calls"] = calls
    elif message["content"] is None:
        message["content"] = ""
    return message


def _content(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """Text-only content as one string (every OpenAI-compatible server takes that), else parts."""
    if all(p["type"] == "text" for p in parts):
        return "\n".join(p["text"] for p in parts)
    return parts


def _image(block: dict[str, Any], i: int) -> dict[str, Any]:
    source = block.get("source")
    if isinstance(source, dict):
        if source.get("type") == "base64":
            url = f"data:{source.get('media_type', 'image/png')};base64,{source.get('data', '')}"
            return {"type": "image_url", "image_url": {"url": url}}
        if source.get("type") == "url" and isinstance(source.get("url"), str):
            return {"type": "image_url", "image_url": {"url": source["url"]}}
    raise BadRequest(f"messages[{i}]: an image needs a base64 or url source.",
                     param=f"messages.{i}.content")


def _tool_result_text(block: dict[str, Any], i: int) -> str:
    content = block.get("content")
    if content is None:
        text = ""
    elif isinstance(content, str):
        text = content
    elif isinstance(content, list):
        text = "\n".join(str(b.get("text", "")) for b in content
                         if isinstance(b, dict) and b.get("type") == "text")
    else:
        raise BadRequest(f"messages[{i}]: tool_result content must be a string or blocks.",
                         param=f"messages.{i}.content")
    return f"Error: {text}" if block.get("is_error") is True else text


def _unsupported(kind: Any, i: int) -> BadRequest:
    return BadRequest(
        f"messages[{i}]: content blocks of type {kind!r} cannot be sent to an "
        f"OpenAI-compatible deployment.", param=f"messages.{i}.content",
    )


def _tool(tool: Any, n: int) -> dict[str, Any]:
    if not isinstance(tool, dict) or tool.get("type") not in (None, "custom") or "name" not in tool:
        kind = tool.get("type") if isinstance(tool, dict) else None
        raise BadRequest(f"tools[{n}]: only client tools (name, input_schema) can be sent to an "
                         f"OpenAI-compatible deployment, not {kind!r}.", param=f"tools.{n}")
    function: dict[str, Any] = {"name": tool["name"],
                                "parameters": tool.get("input_schema") or {"type": "object"}}
    if tool.get("description"):
        function["description"] = tool["description"]
    return {"type": "function", "function": function}


def _tool_choice(choice: dict[str, Any], body: dict[str, Any]) -> None:
    kind = choice.get("type")
    if kind == "auto":
        body["tool_choice"] = "auto"
    elif kind == "any":
        body["tool_choice"] = "required"
    elif kind == "none":
        body["tool_choice"] = "none"
    elif kind == "tool":
        body["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
    if choice.get("disable_parallel_tool_use") is True and "tools" in body:
        body["parallel_tool_calls"] = False


# --- response ----------------------------------------------------------------------------


def message_id(upstream_id: Any) -> str:
    text = upstream_id if isinstance(upstream_id, str) and upstream_id else "unknown"
    return text if text.startswith("msg_") else "msg_" + text


def anthropic_usage(usage: Any) -> dict[str, int] | None:
    """An OpenAI `usage` object in Anthropic's terms (cache reads apart from `input_tokens`)."""
    if not isinstance(usage, dict):
        return None
    prompt = count(usage.get("prompt_tokens"))
    details = usage.get("prompt_tokens_details")
    cached = count(details.get("cached_tokens")) if isinstance(details, dict) else 0
    return {
        "input_tokens": max(prompt - cached, 0),
        "output_tokens": count(usage.get("completion_tokens")),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    }


def stop_reason(
    finish_reason: Any, matched: Any = None, stop_sequences: Any = None, *, tool_calls: bool = False
) -> tuple[str | None, str | None]:
    """(stop_reason, stop_sequence). A `stop` that matched one of the request's stop sequences
    (vLLM reports it as the choice's `stop_reason`) is `stop_sequence`; a `stop` after tool
    calls is `tool_use`."""
    if finish_reason is None:
        return None, None
    if finish_reason == "stop" and tool_calls:
        return "tool_use", None
    if (finish_reason == "stop" and isinstance(matched, str) and isinstance(stop_sequences, list)
            and matched in stop_sequences):
        return "stop_sequence", matched
    return STOP_REASONS.get(finish_reason, "end_turn"), None


def message_response(
    chat: dict[str, Any], *, model: str, stop_sequences: Any = None
) -> dict[str, Any]:
    """A Message body for a `chat.completion` body (first choice). `usage` is zeros when the
    upstream sent none; the gateway then fills in its own count."""
    choices = chat.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else {}
    choice = choice if isinstance(choice, dict) else {}
    message = choice.get("message")
    message = message if isinstance(message, dict) else {}
    content: list[dict[str, Any]] = []
    text = _message_text(message.get("content"))
    if text:
        content.append({"type": "text", "text": text})
    for call in message.get("tool_calls") or ():
        if isinstance(call, dict):
            content.append(_tool_use(call))
    reason, sequence = stop_reason(
        choice.get("finish_reason"), choice.get("stop_reason"), stop_sequences,
        tool_calls=any(block["type"] == "tool_use" for block in content),
    )
    served = chat.get("model")
    return {
        "id": message_id(chat.get("id")),
        "type": "message",
        "role": "assistant",
        "model": served if isinstance(served, str) and served else model,
        "content": content,
        "stop_reason": reason or "end_turn",
        "stop_sequence": sequence,
        "usage": anthropic_usage(chat.get("usage")) or {"input_tokens": 0, "output_tokens": 0},
    }


def _message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # some servers answer with content parts
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def _tool_use(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    return {
        "type": "tool_use",
        "id": str(call.get("id") or ""),
        "name": str(function.get("name") or ""),
        "input": _arguments(function.get("arguments")),
    }


def _arguments(raw: Any) -> Any:
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str) and raw.strip():
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


# --- stream ------------------------------------------------------------------------------


def sse_event(kind: str, data: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


@dataclass(slots=True)
class _ToolCall:
    """One tool call of a streamed reply, as its deltas arrive."""

    id: str
    name: str
    arguments: list[str] = field(default_factory=list)
    started: bool = False  # its content block has been opened
    sent: int = 0  # how many argument pieces went out


class MessageStream:
    """Turns one Chat Completions stream into Anthropic's Messages event stream.

    `feed` takes each parsed `chat.completion.chunk` (first choice only) and returns the
    events it completes; `finish` closes the open block and returns `message_delta`
    (with the impacts, when given) and `message_stop`. Usage is known only at the end,
    so `message_start` announces zero tokens and the final `message_delta` carries the
    cumulative `input_tokens`, `output_tokens` and `cache_read_input_tokens`.

    Content blocks cannot interleave, so the first tool call streams live and the calls
    after it are held until the reply ends, then sent whole: each call `id` is its own
    `tool_use` block even when calls share an `index` or their deltas interleave.
    """

    def __init__(self, *, model: str, stop_sequences: Any = None) -> None:
        self.model = model
        self._stop_sequences = stop_sequences
        self.usage: dict[str, Any] | None = None  # the upstream's OpenAI usage object
        self.finish_reason: str | None = None
        self._matched: Any = None
        self._started = False
        self._pinged = False
        self._index = -1  # Anthropic index of the open block
        self._open: _ToolCall | str | None = None  # "text", a tool call, or nothing
        self._calls: list[_ToolCall] = []  # in order of arrival
        self._by_index: dict[int, _ToolCall] = {}  # the latest call seen at each OpenAI index
        self._late_text: list[str] = []  # text that arrived while a tool call streamed
        self.texts: list[str] = []  # generated text and tool arguments, for local counting

    @property
    def complete(self) -> bool:
        """Whether the upstream said why it stopped (a stream cut short never does)."""
        return self.finish_reason is not None

    def feed(self, chunk: dict[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        if not self._started:
            self._start(chunk, out)
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self.usage = usage
        choices = chunk.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return out
        choice = choices[0]
        delta = choice.get("delta")
        if isinstance(delta, dict):
            text = delta.get("content")
            if isinstance(text, str) and text:
                self._text(text, out)
            for call in delta.get("tool_calls") or ():
                if isinstance(call, dict):
                    self._tool_delta(call, out)
        if choice.get("finish_reason") is not None:
            self.finish_reason = choice["finish_reason"]
            self._matched = choice.get("stop_reason")
        return out

    def finish(
        self, *, impacts: bytes | None = None, output_tokens: int | None = None
    ) -> list[bytes]:
        """The closing events. `output_tokens` stands in when the upstream sent no usage."""
        out: list[bytes] = []
        if not self._started:
            self._start({}, out)
        self._close_block(out)
        for call in self._calls:  # calls held back while another one streamed
            if not call.started:
                self._open_tool(call, out)
                self._send_arguments(call, out)
                self._close_block(out)
        if self._late_text:
            self._open_block({"type": "text", "text": ""}, out)
            self._open = "text"
            out.append(self._delta({"type": "text_delta", "text": "".join(self._late_text)}))
            self._close_block(out)
        usage = anthropic_usage(self.usage)
        if usage is None:
            usage = {"output_tokens": output_tokens or 0}
        reason, sequence = stop_reason(self.finish_reason or "stop", self._matched,
                                       self._stop_sequences, tool_calls=bool(self._calls))
        delta: dict[str, Any] = {
            "type": "message_delta",
            "delta": {"stop_reason": reason, "stop_sequence": sequence},
            "usage": usage,
        }
        if impacts is not None:
            delta["impacts"] = orjson.Fragment(impacts)
        out.append(sse_event("message_delta", delta))
        out.append(sse_event("message_stop", {"type": "message_stop"}))
        return out

    def _start(self, chunk: dict[str, Any], out: list[bytes]) -> None:
        self._started = True
        served = chunk.get("model")
        if isinstance(served, str) and served:
            self.model = served
        message = {
            "id": message_id(chunk.get("id")), "type": "message", "role": "assistant",
            "model": self.model, "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        out.append(sse_event("message_start", {"type": "message_start", "message": message}))

    def _text(self, text: str, out: list[bytes]) -> None:
        self.texts.append(text)
        if isinstance(self._open, _ToolCall):
            self._late_text.append(text)  # sent after the tool calls, in a block of its own
            return
        if self._open is None:
            self._open_block({"type": "text", "text": ""}, out)
            self._open = "text"
        out.append(self._delta({"type": "text_delta", "text": text}))

    def _tool_delta(self, delta: dict[str, Any], out: list[bytes]) -> None:
        index = delta.get("index") if isinstance(delta.get("index"), int) else 0
        function = delta.get("function") if isinstance(delta.get("function"), dict) else {}
        call_id = delta.get("id")
        call = self._by_index.get(index)
        if call is None or (isinstance(call_id, str) and call_id and call_id != call.id):
            call = _ToolCall(id=str(call_id or ""), name=str(function.get("name") or ""))
            self._calls.append(call)
            self._by_index[index] = call
        elif not call.name and function.get("name"):
            call.name = str(function["name"])
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            call.arguments.append(arguments)
            self.texts.append(arguments)
        if self._open is call:
            self._send_arguments(call, out)
        elif not isinstance(self._open, _ToolCall) and not call.started:
            self._close_block(out)
            self._open_tool(call, out)
            self._send_arguments(call, out)

    def _open_tool(self, call: _ToolCall, out: list[bytes]) -> None:
        call.started = True
        self._open_block({"type": "tool_use", "id": call.id, "name": call.name, "input": {}}, out)
        self._open = call

    def _send_arguments(self, call: _ToolCall, out: list[bytes]) -> None:
        pending = "".join(call.arguments[call.sent :])
        call.sent = len(call.arguments)
        if pending:
            out.append(self._delta({"type": "input_json_delta", "partial_json": pending}))

    def _open_block(self, block: dict[str, Any], out: list[bytes]) -> None:
        self._index += 1
        out.append(sse_event("content_block_start", {
            "type": "content_block_start", "index": self._index, "content_block": block}))
        if not self._pinged:
            self._pinged = True
            out.append(sse_event("ping", {"type": "ping"}))

    def _close_block(self, out: list[bytes]) -> None:
        if self._open is not None:
            self._open = None
            out.append(sse_event("content_block_stop",
                                 {"type": "content_block_stop", "index": self._index}))

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return sse_event("content_block_delta",
                         {"type": "content_block_delta", "index": self._index, "delta": delta})


# --- errors ------------------------------------------------------------------------------


def upstream_error_body(status: int, data: bytes) -> bytes:
    """An OpenAI-format upstream error answer, re-shaped as Anthropic's, message kept."""
    message = ""
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict):
        error = parsed.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            message = error["message"]
        elif isinstance(error, str):
            message = error
        elif isinstance(parsed.get("message"), str):
            message = parsed["message"]
        elif isinstance(parsed.get("detail"), str):  # FastAPI-style servers
            message = parsed["detail"]
    if not message:
        message = data.decode("utf-8", "replace").strip()[:500] or f"Upstream answered {status}."
    return error_body(status, message)
