"""Anthropic Messages API (`POST /v1/messages`): a Message, or its event stream.

Token accounting follows Anthropic's: `input_tokens` excludes cache reads and cache writes
(total input = all three), thinking counts as output, and the stream's `message_delta`
carries the cumulative `output_tokens` after `message_start` announced 1.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from proxy.protocols.anthropic_messages import error_envelope

from .content import input_tokens, words
from .options import Behaviour
from .sse import Reply, new_id, typed_event
from .structured import structured_reply

DEFAULT_MODEL = "claude-3-5-haiku-latest"


def messages(body: dict[str, Any], beh: Behaviour) -> Reply:
    """A Message; a forced tool (`tool_choice` `tool` or `any`) gets a `tool_use` block."""
    reply = structured_reply(body)
    tool = reply if reply is not None and reply.tool is not None else None
    out = words(beh.output_tokens)
    visible = tool.tokens if tool is not None else len(out)
    prompt = input_tokens(beh, body.get("messages"), body.get("system"))
    usage = {
        "input_tokens": max(prompt - beh.cached_tokens - beh.cache_write_tokens, 0),
        "cache_creation_input_tokens": beh.cache_write_tokens,
        "cache_read_input_tokens": beh.cached_tokens,
        "output_tokens": visible + beh.reasoning_tokens,
        "service_tier": "standard",
    }
    message: dict[str, Any] = {
        "id": new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": body.get("model") or DEFAULT_MODEL,
        "content": [{"type": "text", "text": "".join(out)}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
    }
    block: dict[str, Any] = {"type": "text", "text": ""}
    deltas = [{"type": "text_delta", "text": word} for word in out]
    if tool is not None:
        block = {"type": "tool_use", "id": new_id("toolu_"), "name": tool.tool, "input": {}}
        deltas = [{"type": "input_json_delta", "partial_json": tool.text}]
        message["content"] = [{**block, "input": tool.value}]
        message["stop_reason"] = "tool_use"
    if body.get("stream"):
        return _events(message, usage if beh.usage else None, block, deltas)
    if beh.usage:
        message["usage"] = usage
    return message


def _events(
    message: dict[str, Any], usage: dict[str, Any] | None, block: dict[str, Any],
    deltas: list[dict[str, Any]],
) -> Iterator[bytes]:
    start = {**message, "content": [], "stop_reason": None}
    delta: dict[str, Any] = {
        "type": "message_delta",
        "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
    }
    if usage is not None:
        start["usage"] = {**usage, "output_tokens": 1}
        delta["usage"] = {"output_tokens": usage["output_tokens"]}
    yield typed_event({"type": "message_start", "message": start})
    yield typed_event({"type": "content_block_start", "index": 0, "content_block": block})
    yield typed_event({"type": "ping"})
    for part in deltas:
        yield typed_event({"type": "content_block_delta", "index": 0, "delta": part})
    yield typed_event({"type": "content_block_stop", "index": 0})
    yield typed_event(delta)
    yield typed_event({"type": "message_stop"})


error = error_envelope  # the mock answers errors the way Anthropic does
