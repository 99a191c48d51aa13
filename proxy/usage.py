"""Token usage, normalised across wire formats.

Counts follow the OpenAI convention: cached input tokens are part of the input, reasoning
tokens part of the output. Each protocol module (`proxy.protocols`) reads its own wire
format's usage object into a `TokenUsage`.
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


def count(value: Any) -> int:
    """A token count from a usage field: a positive int, else 0."""
    return value if isinstance(value, int) and value > 0 else 0


def detail(usage: dict[str, Any], key: str, field: str) -> int:
    """A count inside one of a usage object's `*_details` objects, else 0."""
    details = usage.get(key)
    return count(details.get(field)) if isinstance(details, dict) else 0
