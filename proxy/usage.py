"""Pure extraction of token usage from upstream responses, in every wire format we relay.

Counts are normalised to the OpenAI convention: cached input tokens are part of the
input, reasoning tokens part of the output. Anthropic reports cache reads and writes
beside `input_tokens`, so they are added in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class TokenUsage:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0


def _int(value: Any) -> int:
    return value if isinstance(value, int) and value > 0 else 0


def _detail(usage: dict[str, Any], key: str, field: str) -> int:
    details = usage.get(key)
    return _int(details.get(field)) if isinstance(details, dict) else 0


def from_openai(usage: Any) -> TokenUsage | None:
    """Chat Completions, Completions and Embeddings `usage` objects."""
    if not isinstance(usage, dict):
        return None
    return TokenUsage(
        input_tokens=_int(usage.get("prompt_tokens")),
        output_tokens=_int(usage.get("completion_tokens")),
        cached_input_tokens=_detail(usage, "prompt_tokens_details", "cached_tokens"),
        reasoning_tokens=_detail(usage, "completion_tokens_details", "reasoning_tokens"),
    )


def from_responses(usage: Any) -> TokenUsage | None:
    """Responses API `usage` (input_tokens / output_tokens with *_details)."""
    if not isinstance(usage, dict):
        return None
    return TokenUsage(
        input_tokens=_int(usage.get("input_tokens")),
        output_tokens=_int(usage.get("output_tokens")),
        cached_input_tokens=_detail(usage, "input_tokens_details", "cached_tokens"),
        reasoning_tokens=_detail(usage, "output_tokens_details", "reasoning_tokens"),
    )


def from_anthropic(usage: Any) -> TokenUsage | None:
    """Anthropic Messages `usage`: total input = input + cache creation + cache read."""
    if not isinstance(usage, dict):
        return None
    cache_read = _int(usage.get("cache_read_input_tokens"))
    cache_write = _int(usage.get("cache_creation_input_tokens"))
    return TokenUsage(
        input_tokens=_int(usage.get("input_tokens")) + cache_read + cache_write,
        output_tokens=_int(usage.get("output_tokens")),
        cached_input_tokens=cache_read,
    )


def from_body(endpoint: str, body: Any) -> TokenUsage | None:
    """Usage of a non-streamed response body, or None when the upstream sent none."""
    if not isinstance(body, dict):
        return None
    usage = body.get("usage")
    if endpoint == "responses":
        return from_responses(usage)
    if endpoint == "messages":
        return from_anthropic(usage)
    return from_openai(usage)
