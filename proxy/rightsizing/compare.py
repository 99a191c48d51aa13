"""Comparing two answers to the same request: the call's own and a candidate's.

An answer is read from a parsed response body of any metered protocol (or given as text,
for streams): a forced tool call's arguments, else the message text. Comparisons:

- `label`: normalised label equality. Text is NFKC-normalised, case-folded, its whitespace
  collapsed and surrounding quotes and punctuation stripped ("Positive." == "positive");
  a JSON object counts by its values (a single field by that field's value).
- `fields`: field equality of JSON objects (from a tool call, or from text with or
  without a ```json fence): the same keys, and equal values field by field, strings
  normalised as labels, numbers compared as numbers.
- `exact`: normalised text equality (whitespace collapsed, case-folded).

Nothing is stored: only the verdict leaves this module.
"""

from __future__ import annotations

import unicodedata
from typing import Any

import orjson

_STRIP = " \t\r\n\"'`*.,;:!?()[]{}«»“”‘’"


def answer_of(endpoint: str, body: Any) -> Any:
    """The comparable part of an answer: tool-call arguments (dict), text, or None."""
    if isinstance(body, str):
        return body
    if not isinstance(body, dict):
        return None
    if endpoint == "messages":
        return _first(body.get("content"), tool="tool_use", args="input", text="text")
    if endpoint == "responses":
        for item in body.get("output") or ():
            if isinstance(item, dict) and item.get("type") == "function_call":
                return _json_object(item.get("arguments"))
            if isinstance(item, dict) and item.get("type") == "message":
                return _first(item.get("content"), tool=None, args="", text="text")
        return None
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None
    choice = choices[0]
    if isinstance(choice.get("text"), str):  # legacy completions
        return choice["text"]
    message = choice.get("message")
    if not isinstance(message, dict):
        return None
    calls = message.get("tool_calls")
    if isinstance(calls, list) and calls and isinstance(calls[0], dict):
        fn = calls[0].get("function")
        return _json_object(fn.get("arguments")) if isinstance(fn, dict) else None
    content = message.get("content")
    return content if isinstance(content, str) else None


def comparable(comparison: str, answer: Any) -> Any:
    """The value `comparison` compares, or None when `answer` has none (unusable)."""
    if answer is None:
        return None
    if comparison == "fields":
        return answer if isinstance(answer, dict) else _json_object(_unfence(answer))
    if comparison == "label":
        if isinstance(answer, str):
            parsed = _json_object(_unfence(answer))
            answer = parsed if parsed is not None else answer
        if isinstance(answer, dict):
            values = [_normal(v) for _, v in sorted(answer.items())]
            return values[0] if len(values) == 1 else tuple(values)
        return normalise_label(answer) or None
    return " ".join(answer.split()).casefold() if isinstance(answer, str) else None


def agrees(comparison: str, reference: Any, candidate: Any) -> bool:
    """Whether the candidate's answer equals the reference value (from `comparable`)."""
    value = comparable(comparison, candidate)
    if value is None:
        return False
    if comparison == "fields":
        return _normal(value) == _normal(reference)
    return bool(value == reference)


def normalise_label(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(folded.split()).strip(_STRIP)


def _normal(value: Any) -> Any:
    """A JSON value with strings normalised as labels and numbers as floats (booleans kept
    apart from 1 and 0)."""
    if isinstance(value, str):
        return normalise_label(value)
    if isinstance(value, bool):
        return (bool, value)
    if value is None:
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, list):
        return [_normal(v) for v in value]
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()}
    return value


def _first(blocks: Any, *, tool: str | None, args: str, text: str) -> Any:
    """The first tool call's arguments, else the first text, of a content-block list."""
    if not isinstance(blocks, list):
        return None
    texts = []
    for block in blocks:
        if not isinstance(block, dict):
            continue
        if tool is not None and block.get("type") == tool:
            value = block.get(args)
            return value if isinstance(value, dict) else None
        if isinstance(block.get(text), str):
            texts.append(block[text])
    return "".join(texts) if texts else None


def _unfence(text: str) -> str:
    """Text without a surrounding ``` / ```json fence."""
    stripped = text.strip()
    if stripped.startswith("```") and stripped.endswith("```") and len(stripped) >= 6:
        inner = stripped[3:-3]
        return inner.split("\n", 1)[1] if "\n" in inner else inner
    return stripped


def _json_object(raw: Any) -> dict[str, Any] | None:
    if isinstance(raw, dict):
        return raw
    if not isinstance(raw, str | bytes):
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
