"""Reading answers from every protocol's body, and the three comparisons."""

from __future__ import annotations

from typing import Any

import pytest

from proxy.rightsizing.compare import agrees, answer_of, comparable, normalise_label


def chat_text(text: str) -> dict[str, Any]:
    return {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}


def chat_tool(arguments: str) -> dict[str, Any]:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": arguments}}
    return {"choices": [{"message": {"content": None, "tool_calls": [call]}}]}


def test_answers_of_every_protocol() -> None:
    assert answer_of("chat.completions", chat_text("Positive")) == "Positive"
    assert answer_of("chat.completions", chat_tool('{"label": "a"}')) == {"label": "a"}
    assert answer_of("chat.completions", chat_tool("not json")) is None
    assert answer_of("completions", {"choices": [{"text": "yes"}]}) == "yes"
    tool_use = {"content": [{"type": "text", "text": "ok"},
                            {"type": "tool_use", "name": "f", "input": {"q": 1}}]}
    assert answer_of("messages", tool_use) == {"q": 1}
    assert answer_of("messages", {"content": [{"type": "text", "text": "a"},
                                              {"type": "text", "text": "b"}]}) == "ab"
    message = {"type": "message", "content": [{"type": "output_text", "text": "No"}]}
    assert answer_of("responses", {"output": [{"type": "reasoning"}, message]}) == "No"
    call = {"type": "function_call", "name": "f", "arguments": '{"x": true}'}
    assert answer_of("responses", {"output": [call]}) == {"x": True}
    assert answer_of("chat.completions", "streamed text") == "streamed text"
    for odd in (None, [], {"choices": []}, {"choices": [None]}, {"choices": [{}]},
                {"content": "x"}, {"output": None}):
        assert answer_of("chat.completions", odd) is None or isinstance(odd, str)
        assert answer_of("messages", odd) is None
        assert answer_of("responses", odd) is None


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("Positive", "positive.", True),
        ('"Billing"', "billing", True),
        ("  Shipping\n", "shipping", True),
        ("**refund**", "Refund!", True),
        ("ｐｏｓｉｔｉｖｅ", "positive", True),  # NFKC: full-width letters
        ('{"label": "Positive"}', "positive", True),
        ('```json\n{"label": "positive"}\n```', {"label": "POSITIVE"}, True),
        ("positive", "negative", False),
        ("not spam", "spam", False),
        ({"label": "a", "score": 1}, {"label": "a", "score": 1}, True),
        ({"label": "a", "score": 1}, {"label": "a", "score": 2}, False),
    ],
)
def test_label(a: Any, b: Any, same: bool) -> None:
    assert agrees("label", comparable("label", a), b) is same


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ({"name": "Ada Lovelace", "year": 1843}, '{"year": 1843.0, "name": "ada lovelace"}',
         True),
        ({"name": "Ada", "tags": ["x", "y"]}, {"name": "Ada", "tags": ["x", "y"]}, True),
        ({"name": "Ada", "tags": ["x", "y"]}, {"name": "Ada", "tags": ["y", "x"]}, False),
        ({"name": "Ada", "year": 1843}, {"name": "Ada"}, False),
        ({"name": "Ada"}, {"name": "Ada", "extra": None}, False),
        ({"ok": True}, {"ok": 1}, False),
        ({"name": "Ada"}, "Ada", False),
        ({"name": "Ada"}, '```\n{"name": "ada"}\n```', True),
    ],
)
def test_fields(a: Any, b: Any, same: bool) -> None:
    assert agrees("fields", comparable("fields", a), b) is same


def test_exact() -> None:
    ref = comparable("exact", "The  answer is\n42.")
    assert agrees("exact", ref, "the answer is 42.")
    assert not agrees("exact", ref, "The answer is 42")
    assert comparable("exact", {"a": 1}) is None


def test_unusable_answers_are_none() -> None:
    assert comparable("label", None) is None
    assert comparable("label", "   ...  ") is None
    assert comparable("fields", "plain prose") is None
    assert comparable("fields", "[1, 2]") is None
    assert not agrees("label", "positive", None)


def test_normalise_label() -> None:
    assert normalise_label(" «Très  Bien» ") == "très bien"
