"""The mock's structured answers, read by the official SDKs: schema-conforming, forced tool
calls in every wire format, deterministic per input, and a known agreement share."""

from __future__ import annotations

import json
from collections.abc import Iterator
from enum import StrEnum
from typing import Any

import anthropic
import openai
import pytest
from pydantic import BaseModel

from proxy.mock_upstream import MockOptions, create_mock_app
from proxy.mock_upstream.structured import agreement_pct, agrees_with_reference, bucket
from tests.servers import ServerThread

QUEUES = ["billing", "shipping", "refund", "other"]
SCHEMA = {"type": "object", "properties": {"queue": {"type": "string", "enum": QUEUES}},
          "required": ["queue"], "additionalProperties": False}
FORMAT = {"type": "json_schema", "json_schema": {"name": "queue", "schema": SCHEMA,
                                                 "strict": True}}
TICKETS = [f"Ticket {i}: my order {i * 7} has a problem with item {i % 5}." for i in range(60)]


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    server = ServerThread(create_mock_app(MockOptions())).start()
    yield server.url
    server.stop()


@pytest.fixture
def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key="x", max_retries=0)


def label(client: openai.OpenAI, model: str, text: str) -> str:
    done = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": text}],
        response_format=FORMAT)  # type: ignore[arg-type]
    return str(json.loads(done.choices[0].message.content or "")["queue"])


def test_json_schema_answers_are_valid_deterministic_and_small(client: openai.OpenAI) -> None:
    first = [label(client, "gpt-4o", t) for t in TICKETS[:20]]
    assert all(q in QUEUES for q in first)
    assert len(set(first)) > 1  # the label depends on the input
    assert first == [label(client, "gpt-4o", t) for t in TICKETS[:20]]
    assert first == [label(client, "mock-gpt", t) for t in TICKETS[:20]]  # same reference
    done = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": TICKETS[0]}],
        response_format=FORMAT)  # type: ignore[arg-type]
    assert done.usage is not None and done.usage.completion_tokens <= 6


def test_agree_models_agree_on_the_announced_inputs(client: openai.OpenAI) -> None:
    model = "mock-small-agree-70"
    assert agreement_pct(model) == 70 and agreement_pct("gpt-4o") == 100
    same = [label(client, model, t) == label(client, "gpt-4o", t) for t in TICKETS]
    assert same == [agrees_with_reference(model, t) for t in TICKETS]
    assert same == [bucket(t) < 70 for t in TICKETS]
    assert 0 < sum(same) < len(TICKETS)
    assert all(label(client, "x-agree-0", t) != label(client, "gpt-4o", t) for t in TICKETS[:10])


class Queue(StrEnum):
    billing = "billing"
    shipping = "shipping"


class Ticket(BaseModel):
    queue: Queue
    urgent: bool
    customer: str
    items: list[int]


def test_sdk_parse_with_pydantic_enums_and_refs(client: openai.OpenAI) -> None:
    done = client.chat.completions.parse(
        model="gpt-4o", messages=[{"role": "user", "content": "Ada Lovelace wants a refund"}],
        response_format=Ticket)
    ticket = done.choices[0].message.parsed
    assert ticket is not None and ticket.queue in Queue
    assert ticket.customer in {"ada", "lovelace", "wants", "a", "refund"}


def tool(name: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "parameters": params}}


def test_forced_tool_calls_plain_and_streamed(client: openai.OpenAI) -> None:
    tools = [tool("route", SCHEMA), tool("other", {"type": "object", "properties": {}})]
    choice = {"type": "function", "function": {"name": "route"}}
    done = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": TICKETS[3]}],
        tools=tools, tool_choice=choice)  # type: ignore[arg-type]
    message = done.choices[0].message
    assert done.choices[0].finish_reason == "tool_calls" and message.content is None
    assert message.tool_calls and message.tool_calls[0].function.name == "route"
    args = json.loads(message.tool_calls[0].function.arguments)
    assert args["queue"] == label(client, "gpt-4o", TICKETS[3])
    stream = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": TICKETS[3]}], tools=tools,
        tool_choice=choice, stream=True, stream_options={"include_usage": True})  # type: ignore[arg-type]
    chunks = list(stream)
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    calls = [d.tool_calls[0] for d in deltas if d.tool_calls]
    assert calls and calls[0].function and json.loads(calls[0].function.arguments or "") == args
    assert chunks[-1].usage is not None
    free = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], tools=tools)  # type: ignore[arg-type]
    assert free.choices[0].message.tool_calls is None  # not forced: plain text


def test_responses_json_schema_and_function_call(client: openai.OpenAI) -> None:
    fmt = {"format": {"type": "json_schema", "name": "queue", "schema": SCHEMA}}
    done = client.responses.create(model="gpt-4o", input=TICKETS[5], text=fmt)  # type: ignore[arg-type]
    assert json.loads(done.output_text)["queue"] == label(client, "gpt-4o", TICKETS[5])
    fn = {"type": "function", "name": "route", "parameters": SCHEMA, "strict": True}
    called = client.responses.create(
        model="gpt-4o", input=TICKETS[5], tools=[fn],  # type: ignore[list-item]
        tool_choice={"type": "function", "name": "route"})
    (item,) = called.output
    assert item.type == "function_call" and json.loads(item.arguments) == json.loads(
        done.output_text)


def test_anthropic_forced_tool_use(base_url: str) -> None:
    claude = anthropic.Anthropic(base_url=base_url, api_key="x", max_retries=0)
    request: dict[str, Any] = {
        "model": "claude-3-5-haiku-latest", "max_tokens": 100,
        "messages": [{"role": "user", "content": TICKETS[7]}],
        "tools": [{"name": "route", "input_schema": SCHEMA}],
        "tool_choice": {"type": "tool", "name": "route"},
    }
    message = claude.messages.create(**request)
    (block,) = message.content
    assert message.stop_reason == "tool_use" and block.type == "tool_use"
    assert block.input == {"queue": label(openai.OpenAI(base_url=f"{base_url}/v1", api_key="x"),
                                          "gpt-4o", TICKETS[7])}
    with claude.messages.stream(**request) as stream:
        final = stream.get_final_message()
    assert final.content[0].type == "tool_use" and final.content[0].input == block.input
