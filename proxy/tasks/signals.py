"""Request-time signals: what a request body's structure says about its task.

Each function reads a few fields of the parsed request (OpenAI Chat Completions,
Completions and Responses, Anthropic Messages) and returns signal codes; the weights and
the tasks they point to are in `proxy.tasks.shape.SIGNALS`. Nothing here keeps text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_TINY_TOKENS = 16  # a `max_tokens` this small leaves room for a label, not an answer
SCHEMA_MAX_ENUM_FIELDS = 4  # more fields than this is a record to fill, not a label
SYSTEM_HEAD = 300  # characters of the system prompt / instructions read for keywords
USER_HEAD = 300  # characters read from the start of the last user message
USER_TAIL = 150  # ... and from its end (questions often close with "Answer yes or no.")
FENCE_SCAN = 8192  # characters searched for a ``` code fence

_REASONING_EFFORTS = frozenset({"medium", "high"})


def response_format_signal(request: Mapping[str, Any]) -> str | None:
    """`rf:enum`, `rf:schema` or `rf:json` from a structured-output request.

    Chat Completions: `response_format`; Responses: `text.format`; Anthropic:
    `output_format`.
    """
    fmt = request.get("response_format")
    if fmt is None:
        text = request.get("text")
        fmt = text.get("format") if isinstance(text, dict) else request.get("output_format")
    if not isinstance(fmt, dict):
        return None
    kind = fmt.get("type")
    if kind == "json_object":
        return "rf:json"
    if kind != "json_schema":
        return None
    holder = fmt.get("json_schema")
    schema = holder.get("schema") if isinstance(holder, dict) else fmt.get("schema")
    return "rf:enum" if is_label_schema(schema) else "rf:schema"


def tool_signal(request: Mapping[str, Any]) -> str | None:
    """`tool:enum` / `tool:schema` for a forced function call, `tools` for offered tools."""
    tools = request.get("tools")
    if not isinstance(tools, list) or not tools:
        return None
    forced = _forced_tool(tools, request.get("tool_choice"))
    if forced is None:
        return "tools"
    return "tool:enum" if is_label_schema(_parameters(forced)) else "tool:schema"


def max_tokens_signal(request: Mapping[str, Any]) -> str | None:
    """`max:tiny` when the output is capped at a handful of tokens."""
    for key in ("max_completion_tokens", "max_tokens", "max_output_tokens"):
        value = request.get(key)
        if type(value) is int:
            return "max:tiny" if 0 < value <= MAX_TINY_TOKENS else None
    return None


def logit_bias_signal(request: Mapping[str, Any]) -> str | None:
    """`lb` when `logit_bias` pushes some tokens up (restricting the answer to a label set)."""
    bias = request.get("logit_bias")
    if isinstance(bias, dict) and any(
        isinstance(v, int | float) and v > 0 for v in bias.values()
    ):
        return "lb"
    return None


def reasoning_request_signal(request: Mapping[str, Any]) -> str | None:
    """`rq:rsn` when the client asks for medium/high reasoning effort or extended thinking."""
    effort = request.get("reasoning_effort")
    if effort is None:
        reasoning = request.get("reasoning")
        effort = reasoning.get("effort") if isinstance(reasoning, dict) else None
    if effort in _REASONING_EFFORTS:
        return "rq:rsn"
    thinking = request.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        return "rq:rsn"
    return None


def instruction_window(endpoint: str, request: Mapping[str, Any]) -> tuple[str, bool]:
    """(keyword window, whether a ``` code fence opens the last user message's first
    FENCE_SCAN characters) of a request.

    The keyword window is the start of the system prompt (or `instructions`) and the start
    and end of the last user message: where instructions usually are.
    """
    if endpoint == "completions":
        prompt = request.get("prompt")
        if isinstance(prompt, list) and prompt:
            prompt = prompt[0]
        user = prompt if isinstance(prompt, str) else ""
        system = ""
    elif endpoint == "responses":
        system = _text(request.get("instructions"))
        user = _last_user_text(request.get("input"))
    else:
        system = _text(request.get("system"))
        user = _last_user_text(request.get("messages"))
        if not system:
            system = _system_message(request.get("messages"))
    head = system[:SYSTEM_HEAD]
    if len(user) > USER_HEAD + USER_TAIL:
        window = f"{head}\n{user[:USER_HEAD]}\n{user[-USER_TAIL:]}"
    else:
        window = f"{head}\n{user}"
    return window, user.find("```", 0, FENCE_SCAN) >= 0


def is_label_schema(schema: Any) -> bool:
    """A JSON schema that asks for a label: at most a few flat fields, at least half of
    them enums, consts, booleans or arrays of those (multi-label)."""
    if not isinstance(schema, dict):
        return False
    defs = schema.get("$defs") or schema.get("definitions") or {}
    props = schema.get("properties")
    if not isinstance(props, dict) or not props:
        return _enum_like(schema, defs)
    if len(props) > SCHEMA_MAX_ENUM_FIELDS:
        return False
    labels = 0
    for prop in props.values():
        prop = _resolve(prop, defs)
        if _enum_like(prop, defs):
            labels += 1
        elif not isinstance(prop, dict) or prop.get("type") in ("object", "array"):
            return False
    return labels > 0 and 2 * labels >= len(props)


def _resolve(node: Any, defs: Any) -> Any:
    ref = node.get("$ref") if isinstance(node, dict) else None
    if isinstance(ref, str) and isinstance(defs, dict):
        return defs.get(ref.rpartition("/")[2], node)
    return node


def _enum_like(node: Any, defs: Any) -> bool:
    node = _resolve(node, defs)
    if not isinstance(node, dict):
        return False
    if "enum" in node or "const" in node or node.get("type") == "boolean":
        return True
    if node.get("type") == "array":
        return _enum_like(node.get("items"), defs)
    options = node.get("anyOf") or node.get("oneOf")
    if isinstance(options, list) and options:
        real = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
        return bool(real) and all(_enum_like(o, defs) for o in real)
    return False


def _forced_tool(tools: list[Any], choice: Any) -> Any:
    """The tool the model must call, or None when it may answer in text."""
    if isinstance(choice, dict):
        fn = choice.get("function")
        name = fn.get("name") if isinstance(fn, dict) else choice.get("name")
        if name is None:
            return tools[0] if choice.get("type") == "any" and len(tools) == 1 else None
        return next((t for t in tools if _tool_name(t) == name), None)
    if choice == "required" and len(tools) == 1:
        return tools[0]
    return None


def _tool_name(tool: Any) -> Any:
    if not isinstance(tool, dict):
        return None
    fn = tool.get("function")
    return fn.get("name") if isinstance(fn, dict) else tool.get("name")


def _parameters(tool: Any) -> Any:
    """Chat Completions `function.parameters`, Responses `parameters`, Anthropic `input_schema`."""
    if not isinstance(tool, dict):
        return None
    fn = tool.get("function")
    if isinstance(fn, dict):
        return fn.get("parameters")
    return tool.get("parameters") or tool.get("input_schema")


def _text(content: Any) -> str:
    """Plain text of a content value: a string or the first text part of a part list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                return str(part["text"])
    return ""


def _last_user_text(messages: Any) -> str:
    if isinstance(messages, str):
        return messages
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return _text(message.get("content"))
    return ""


def _system_message(messages: Any) -> str:
    if isinstance(messages, list) and messages:
        first = messages[0]
        if isinstance(first, dict) and first.get("role") in ("system", "developer"):
            return _text(first.get("content"))
    return ""
