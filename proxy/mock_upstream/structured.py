"""Structured answers: JSON-schema response formats, forced tool calls and enum labels,
realistic in shape and deterministic per input.

The answer to a request depends only on its input text, the schema and the model name:

- every value satisfies the schema: an enum gets one of its values, a boolean true or
  false, a string a word of the input, a number an integer, arrays one item, objects every
  property (`$ref` to `$defs` and `anyOf` are followed);
- the reference answer picks values from a hash of the input (`digest`);
- a model whose name contains `agree-NN` (for example `mock-small-agree-70`) gives the
  reference answer on the inputs whose `bucket(text)` is below NN and a different value in
  every field on the others, so the share of inputs on which it agrees with any model
  without `agree-` is known in advance (`agrees_with_reference`).

Output tokens are counted from the JSON text (len // 4), so a label is a handful of tokens.
Chat Completions and Anthropic Messages answer forced tools as tool calls (streamed too);
the Responses API answers a JSON-schema `text.format` (streamed too) and forced function
tools (not streamed).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import orjson

_AGREE = re.compile(r"agree-(\d{1,3})")
_JSON_OBJECT_SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}}


def input_text(body: dict[str, Any]) -> str:
    """All prompt text of a request (messages, system, input, instructions, prompt)."""
    parts: list[str] = []
    for key in ("system", "instructions", "messages", "input", "prompt"):
        _collect(body.get(key), parts)
    return "\n".join(parts)


def digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "replace")).digest()


def bucket(text: str) -> int:
    """0..99, from the input text alone: the mock's agreement threshold is compared to it."""
    return int.from_bytes(digest(text)[:4], "big") % 100


def agreement_pct(model: Any) -> int:
    """NN of an `agree-NN` model name (0..100); 100 for any other model."""
    match = _AGREE.search(model) if isinstance(model, str) else None
    return min(int(match.group(1)), 100) if match else 100


def agrees_with_reference(model: str, text: str) -> bool:
    return bucket(text) < agreement_pct(model)


def schema_of(body: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema a chat or Responses request asks its text answer to follow."""
    fmt = body.get("response_format")
    if fmt is None and isinstance(body.get("text"), dict):
        fmt = body["text"].get("format")
    if not isinstance(fmt, dict):
        return None
    if fmt.get("type") == "json_object":
        return _JSON_OBJECT_SCHEMA
    if fmt.get("type") != "json_schema":
        return None
    holder = fmt.get("json_schema")
    schema = holder.get("schema") if isinstance(holder, dict) else fmt.get("schema")
    return schema if isinstance(schema, dict) else None


def forced_tool(body: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(name, parameter schema) of the tool the request forces, in any wire format."""
    tools = body.get("tools")
    if not isinstance(tools, list) or not tools:
        return None
    choice = body.get("tool_choice")
    name = None
    if isinstance(choice, dict):
        fn = choice.get("function")
        name = fn.get("name") if isinstance(fn, dict) else choice.get("name")
        if name is None and choice.get("type") == "any":
            name = _tool(tools[0])[0]
    elif choice == "required":
        name = _tool(tools[0])[0]
    for tool in tools:
        tool_name, params = _tool(tool)
        if name is not None and tool_name == name:
            return tool_name, params
    return None


def answer(schema: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """The schema-conforming answer of `body`'s model to `body`'s input."""
    text = input_text(body)
    value = _value(schema, schema.get("$defs") or {}, digest(text), _words(text),
                   agrees_with_reference(body.get("model") or "", text), 0)
    return value if isinstance(value, dict) else {"value": value}


def _value(node: Any, defs: dict[str, Any], seed: bytes, words: list[str], agree: bool,
           depth: int) -> Any:
    node = _resolve(node, defs)
    if not isinstance(node, dict) or depth > 8:
        return None
    pick = seed[0]
    options = node.get("anyOf") or node.get("oneOf")
    if isinstance(options, list) and options:
        real = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
        return _value(real[0] if real else options[0], defs, seed, words, agree, depth)
    if "const" in node:
        return node["const"]
    if isinstance(node.get("enum"), list) and node["enum"]:
        values = node["enum"]
        return values[(pick + (0 if agree else 1)) % len(values)]
    kind = node.get("type")
    if kind == "object" or "properties" in node:
        props = node.get("properties") or {}
        return {key: _value(sub, defs, _child(seed, key), words, agree, depth + 1)
                for key, sub in props.items()}
    if kind == "array":
        return [_value(node.get("items"), defs, _child(seed, "[]"), words, agree, depth + 1)]
    if kind == "boolean":
        return (pick % 2 == 0) == agree
    if kind in ("integer", "number"):
        return pick + (0 if agree else 1)
    word = words[pick % len(words)] if words else "none"
    return word if agree else f"{word}-alt"


def _child(seed: bytes, key: str) -> bytes:
    return hashlib.sha256(seed + key.encode("utf-8", "replace")).digest()


def _resolve(node: Any, defs: dict[str, Any]) -> Any:
    ref = node.get("$ref") if isinstance(node, dict) else None
    return defs.get(ref.rpartition("/")[2], node) if isinstance(ref, str) else node


def _words(text: str) -> list[str]:
    return [w.strip(".,;:!?\"'()").lower() for w in text.split()[:64] if w.strip(".,;:!?\"'()")]


def _tool(tool: Any) -> tuple[Any, dict[str, Any]]:
    if not isinstance(tool, dict):
        return None, {}
    fn = tool.get("function")
    if isinstance(fn, dict):
        return fn.get("name"), fn.get("parameters") or {}
    return tool.get("name"), tool.get("parameters") or tool.get("input_schema") or {}


def _collect(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, list):
        for item in value:
            _collect(item, out)
    elif isinstance(value, dict):
        _collect(value.get("content"), out)
        if isinstance(value.get("text"), str):
            out.append(value["text"])


@dataclass(frozen=True, slots=True)
class Structured:
    """A structured answer: a forced tool's arguments, or JSON text for a response format."""

    value: dict[str, Any]
    tool: str | None  # the forced tool's name; None for a JSON text answer

    @property
    def text(self) -> str:
        return orjson.dumps(self.value).decode()

    @property
    def tokens(self) -> int:
        """Output tokens of the answer: a tokenizer's rough guess, len(text) // 4."""
        return max(len(self.text) // 4, 1)


def structured_reply(body: dict[str, Any]) -> Structured | None:
    """The structured answer `body` asks for (forced tool first), or None for plain text."""
    tool = forced_tool(body)
    if tool is not None:
        return Structured(answer(tool[1], body), tool[0])
    schema = schema_of(body)
    return Structured(answer(schema, body), None) if schema is not None else None
