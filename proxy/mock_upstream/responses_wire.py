"""OpenAI Responses API (`POST /v1/responses`): a Response object, or its event stream.

Streams have no `[DONE]`; every event carries `type` and a `sequence_number`, and usage
arrives only in the `response` of the terminal `response.completed` event.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from .content import input_tokens, words
from .openai_wire import DEFAULT_MODEL
from .options import Behaviour
from .sse import Reply, new_id, typed_event
from .structured import structured_reply


def responses(body: dict[str, Any], beh: Behaviour) -> Reply:
    """A Response; a JSON-schema `text.format` gets a structured answer, a forced function
    tool a `function_call` item (not streamed)."""
    reply = structured_reply(body)
    out = (reply.text,) if reply is not None else words(beh.output_tokens)
    text = "".join(out)
    visible = reply.tokens if reply is not None else len(out)
    prompt = input_tokens(beh, body.get("input"), body.get("instructions"))
    usage = {
        "input_tokens": prompt,
        "input_tokens_details": {
            "cached_tokens": beh.cached_tokens,
            "cache_write_tokens": beh.cache_write_tokens,
        },
        "output_tokens": visible + beh.reasoning_tokens,
        "output_tokens_details": {"reasoning_tokens": beh.reasoning_tokens},
        "total_tokens": prompt + visible + beh.reasoning_tokens,
    }
    part = {"type": "output_text", "annotations": [], "logprobs": [], "text": text}
    item = {"id": new_id("msg_"), "type": "message", "status": "completed",
            "content": [part], "role": "assistant"}
    if reply is not None and reply.tool is not None and not body.get("stream"):
        item = {"id": new_id("fc_"), "type": "function_call", "status": "completed",
                "call_id": new_id("call_"), "name": reply.tool, "arguments": text}
    response = _response(body, usage if beh.usage else None, [item])
    if body.get("stream"):
        return _events(response, item, out)
    return response


def _response(
    body: dict[str, Any], usage: dict[str, Any] | None, output: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "id": new_id("resp_"),
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed",
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": body.get("model") or DEFAULT_MODEL,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "user": None,
        "metadata": {},
    }


def _events(
    done: dict[str, Any], item: dict[str, Any], out: tuple[str, ...]
) -> Iterator[bytes]:
    """The lifecycle of a one-message text response, numbered from 0."""
    pending = {**done, "status": "in_progress", "output": [], "usage": None}
    where = {"item_id": item["id"], "output_index": 0, "content_index": 0}
    empty_part = {**item["content"][0], "text": ""}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": pending},
        {"type": "response.in_progress", "response": pending},
        {"type": "response.output_item.added", "output_index": 0,
         "item": {**item, "status": "in_progress", "content": []}},
        {"type": "response.content_part.added", **where, "part": empty_part},
    ]
    events += [
        {"type": "response.output_text.delta", **where, "delta": word, "logprobs": []}
        for word in out
    ]
    events += [
        {"type": "response.output_text.done", **where, "text": item["content"][0]["text"],
         "logprobs": []},
        {"type": "response.content_part.done", **where, "part": item["content"][0]},
        {"type": "response.output_item.done", "output_index": 0, "item": item},
        {"type": "response.completed", "response": done},
    ]
    for number, event in enumerate(events):
        event["sequence_number"] = number
        yield typed_event(event)
