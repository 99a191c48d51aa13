"""What the mock says and how it counts tokens: cheap, deterministic, roughly realistic."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from .options import Behaviour

_WORDS = (
    "Hello", " from", " the", " Wattgate", " mock", " upstream", ".", " Every", " word",
    " here", " is", " one", " token", ",", " more", " or", " less", ".",
)


@lru_cache(maxsize=128)
def words(count: int) -> tuple[str, ...]:
    """`count` token-ish words; each streamed content delta carries one of them."""
    return tuple(_WORDS[i % len(_WORDS)] for i in range(max(count, 0)))


def text_length(value: Any) -> int:
    """Characters of prompt text in a message list, content-part list or plain string."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return sum(text_length(item) for item in value)
    if isinstance(value, dict):
        return text_length(value.get("content")) + text_length(value.get("text"))
    return 0


def input_tokens(beh: Behaviour, *texts: Any) -> int:
    """The configured prompt size, else len(text) // 4 (at least 1): a tokenizer's rough guess."""
    if beh.prompt_tokens is not None:
        return beh.prompt_tokens
    return max(sum(text_length(t) for t in texts) // 4, 1)
