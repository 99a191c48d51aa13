"""OpenAI wire format: chat completions, legacy completions, embeddings, responses, models.

Each builder takes the parsed request body and the request's `Behaviour` and returns a
`Reply`: a JSON document or an iterator of ready-framed SSE events. Field names follow the `openai`
SDK's types (`openai/types/...`); token accounting follows OpenAI's: `prompt_tokens`
includes cached tokens and `completion_tokens` includes reasoning tokens.
"""

from __future__ import annotations

import base64
import struct
import time
from collections.abc import Iterator
from typing import Any

from .content import input_tokens, words
from .options import Behaviour
from .sse import DONE, Reply, data_event, new_id
from .structured import Structured, structured_reply

DEFAULT_MODEL = "mock-gpt"


def _usage(beh: Behaviour, prompt: int, visible: int) -> dict[str, Any]:
    completion = visible + beh.reasoning_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": beh.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": beh.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _wants_usage(body: dict[str, Any], beh: Behaviour) -> bool:
    options = body.get("stream_options")
    return beh.usage and isinstance(options, dict) and bool(options.get("include_usage"))


def _stream(
    head: dict[str, Any], deltas: Iterator[list[dict[str, Any]]], usage: dict[str, Any] | None
) -> Iterator[bytes]:
    """Chunks for one chat/completions stream; `usage` set means the client asked for it."""
    if usage is None:
        for choices in deltas:
            yield data_event({**head, "choices": choices})
    else:
        for choices in deltas:
            yield data_event({**head, "choices": choices, "usage": None})
        yield data_event({**head, "choices": [], "usage": usage})
    yield DONE


def chat_completions(body: dict[str, Any], beh: Behaviour) -> Reply:
    """A chat completion; JSON-schema formats and forced tools get structured answers."""
    n = int(body.get("n") or 1)
    reply = structured_reply(body)
    out = (reply.text,) if reply is not None else words(beh.output_tokens)
    visible = reply.tokens if reply is not None else len(out)
    usage = _usage(beh, input_tokens(beh, body.get("messages")), visible * n)
    head = {
        "id": new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model") or DEFAULT_MODEL,
        "service_tier": "default",
        "system_fingerprint": "fp_mock",
    }
    tool = reply if reply is not None and reply.tool is not None else None
    if body.get("stream"):
        head["object"] = "chat.completion.chunk"
        deltas = _tool_deltas(n, tool) if tool is not None else _chat_deltas(n, out)
        return _stream(head, deltas, usage if _wants_usage(body, beh) else None)
    message: dict[str, Any] = {
        "role": "assistant", "content": "".join(out), "refusal": None, "annotations": []
    }
    if tool is not None:
        message["content"] = None
        message["tool_calls"] = [_tool_call(tool)]
    finish = "tool_calls" if tool is not None else "stop"
    head["choices"] = [
        {"index": i, "message": message, "logprobs": None, "finish_reason": finish}
        for i in range(n)
    ]
    if beh.usage:
        head["usage"] = usage
    return head


def _chat_deltas(n: int, out: tuple[str, ...]) -> Iterator[list[dict[str, Any]]]:
    for i in range(n):
        role = {"role": "assistant", "content": "", "refusal": None}
        yield [{"index": i, "delta": role, "logprobs": None, "finish_reason": None}]
    for word in out:
        for i in range(n):
            delta = {"content": word}
            yield [{"index": i, "delta": delta, "logprobs": None, "finish_reason": None}]
    for i in range(n):
        yield [{"index": i, "delta": {}, "logprobs": None, "finish_reason": "stop"}]


def _tool_call(reply: Structured) -> dict[str, Any]:
    return {"id": new_id("call_"), "type": "function",
            "function": {"name": reply.tool, "arguments": reply.text}}


def _tool_deltas(n: int, reply: Structured) -> Iterator[list[dict[str, Any]]]:
    call = _tool_call(reply)
    for i in range(n):
        delta = {"role": "assistant", "content": None, "tool_calls": [{"index": 0, **call}]}
        yield [{"index": i, "delta": delta, "logprobs": None, "finish_reason": None}]
    for i in range(n):
        yield [{"index": i, "delta": {}, "logprobs": None, "finish_reason": "tool_calls"}]


def completions(body: dict[str, Any], beh: Behaviour) -> Reply:
    n = int(body.get("n") or 1)
    out = words(beh.output_tokens)
    usage = _usage(beh, input_tokens(beh, body.get("prompt")), len(out) * n)
    head = {
        "id": new_id("cmpl-"),
        "object": "text_completion",
        "created": int(time.time()),
        "model": body.get("model") or DEFAULT_MODEL,
        "system_fingerprint": "fp_mock",
    }
    if body.get("stream"):
        return _stream(head, _completion_deltas(n, out), usage if _wants_usage(body, beh) else None)
    text = "".join(out)
    head["choices"] = [
        {"text": text, "index": i, "logprobs": None, "finish_reason": "stop"} for i in range(n)
    ]
    if beh.usage:
        head["usage"] = usage
    return head


def _completion_deltas(n: int, out: tuple[str, ...]) -> Iterator[list[dict[str, Any]]]:
    for word in out:
        for i in range(n):
            yield [{"text": word, "index": i, "logprobs": None, "finish_reason": None}]
    for i in range(n):
        yield [{"text": "", "index": i, "logprobs": None, "finish_reason": "stop"}]


def embeddings(body: dict[str, Any], beh: Behaviour, dim: int) -> Reply:
    raw = body.get("input")
    single = isinstance(raw, str) or (isinstance(raw, list) and raw and isinstance(raw[0], int))
    items: list[Any] = [raw] if single else list(raw or [])
    dim = int(body.get("dimensions") or dim)
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for index in range(len(items)):
        vector = [((index + 1) * (j + 1) % 17) / 17 for j in range(dim)]
        encoded: Any = vector
        if as_base64:
            encoded = base64.b64encode(struct.pack(f"<{dim}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    model_id = body.get("model") or DEFAULT_MODEL
    doc: dict[str, Any] = {"object": "list", "data": data, "model": model_id}
    if beh.usage:
        prompt = beh.prompt_tokens
        if prompt is None:
            prompt = sum(len(i) if isinstance(i, list) else max(len(str(i)) // 4, 1) for i in items)
        doc["usage"] = {"prompt_tokens": prompt, "total_tokens": prompt}
    return doc


def models(ids: tuple[str, ...]) -> dict[str, Any]:
    return {"object": "list", "data": [model(i) for i in ids]}


def model(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 1700000000, "owned_by": "wattgate-mock"}


def error(status: int, message: str) -> dict[str, Any]:
    """OpenAI's error envelope, with the `type`/`code` OpenAI uses for that status."""
    fallback = "server_error" if status >= 500 else "invalid_request_error"
    kind, code = _ERRORS.get(status, (fallback, None))
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


_ERRORS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", "service_unavailable"),
}
