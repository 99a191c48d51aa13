"""Server-sent-event framing and ids shared by the OpenAI and Anthropic wire formats."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import orjson

DONE = b"data: [DONE]\n\n"
Reply = dict[str, Any] | Iterator[bytes]
"""What an endpoint builder returns: a JSON document, or ready-framed SSE events."""


def data_event(payload: dict[str, Any]) -> bytes:
    """`data: {...}` frame, as OpenAI chat/completions streams use (no `event:` line)."""
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def typed_event(payload: dict[str, Any]) -> bytes:
    """`event: <type>` + `data:` frame, as the Responses API and Anthropic streams use."""
    kind: str = payload["type"]
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def new_id(prefix: str) -> str:
    return prefix + os.urandom(12).hex()
