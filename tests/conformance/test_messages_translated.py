"""`POST /v1/messages` served by an OpenAI-format upstream: the call goes up as a chat
completion and its answer comes back in Anthropic's format. There is no direct call to
compare with byte for byte; what the Anthropic SDK makes of the answer is checked instead."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conformance.compat import impacts_carriers, sse_events
from tests.conformance.harness import DEPLOYMENT_KEY, TRANSLATED_MODEL, Harness, Side
from tests.conformance.replies import (
    CHAT_USAGE,
    PARALLEL_TOOL_DELTAS,
    SHARED_INDEX_TOOL_DELTAS,
    TOOL_CALLS,
    ChatCompletion,
    ChatStream,
)
from tests.conformance.upstream import Capture, RecordingUpstream

HI = [{"role": "user", "content": "Weather and time in Paris?"}]
TOOLS = [
    {"name": "get_weather", "description": "Weather now",
     "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
    {"name": "get_time", "description": "Local time",
     "input_schema": {"type": "object", "properties": {"tz": {"type": "string"}}}},
]
FINISH_REASONS = ["tool_calls", "stop"]  # "stop" with tool calls: Ollama, forced tool_choice


def create(client: Any, **kwargs: Any) -> Any:
    return client.messages.create(model=TRANSLATED_MODEL, max_tokens=256, messages=HI,
                                  tools=TOOLS, **kwargs)


def streamed(client: Any) -> Any:
    with client.messages.stream(model=TRANSLATED_MODEL, max_tokens=256, messages=HI,
                                tools=TOOLS) as stream:
        return stream.get_final_message()


def assert_chat_request(capture: Capture, side: Side, *, stream: bool) -> None:
    """What the OpenAI-format upstream received: the translator's chat completion."""
    assert (capture.method, capture.target) == ("POST", "/openai/v1/chat/completions")
    body = capture.json()
    assert body["model"] == TRANSLATED_MODEL and body["messages"] == HI
    assert [t["function"]["name"] for t in body["tools"]] == ["get_weather", "get_time"]
    assert body["tools"][0]["function"]["parameters"] == TOOLS[0]["input_schema"]
    assert body.get("stream", False) is stream
    if stream:
        assert body["stream_options"] == {"include_usage": True}
    key = DEPLOYMENT_KEY if side.mode == "team" else side.via_anthropic_key
    assert capture.headers("authorization") == [f"Bearer {key}"]


def assert_tool_use_blocks(message: Any) -> None:
    """Each tool call id is its own `tool_use` block, and the turn ends with `tool_use`."""
    blocks = [(b.type, b.id, b.name, b.input) for b in message.content]
    assert blocks == [("tool_use", i, name, args) for i, name, args in TOOL_CALLS]
    assert message.stop_reason == "tool_use"


@pytest.mark.parametrize("finish_reason", FINISH_REASONS)
@pytest.mark.parametrize("deltas", [PARALLEL_TOOL_DELTAS, SHARED_INDEX_TOOL_DELTAS],
                         ids=["parallel", "shared-index"])
def test_tool_call_stream(harness: Harness, upstream: RecordingUpstream, side: Side,
                          deltas: list[dict[str, Any]], finish_reason: str) -> None:
    upstream.script(ChatStream(deltas=deltas, finish_reason=finish_reason))
    via = harness.anthropic(streamed, via=True)
    assert_chat_request(via.capture, side, stream=True)
    assert_tool_use_blocks(via.result)
    [carrier] = impacts_carriers(via.seen.body)
    assert carrier["type"] == "message_delta"
    row = side.row(via.request_id)
    assert (row["usage_source"], row["output_tokens"]) == ("upstream",
                                                           CHAT_USAGE["completion_tokens"])


@pytest.mark.parametrize("finish_reason", FINISH_REASONS)
def test_tool_call_message(harness: Harness, upstream: RecordingUpstream, side: Side,
                           finish_reason: str) -> None:
    upstream.script(ChatCompletion(content=None, tool_calls=TOOL_CALLS,
                                   finish_reason=finish_reason))
    via = harness.anthropic(create, via=True)
    assert_chat_request(via.capture, side, stream=False)
    assert_tool_use_blocks(via.result)
    assert "impacts" in via.result.model_extra


def test_text_stream(harness: Harness, upstream: RecordingUpstream, side: Side) -> None:
    upstream.script(ChatStream(eol=b"\r\n", keepalive=True))
    via = harness.anthropic(streamed, via=True)
    assert [(b.type, b.text) for b in via.result.content] == [("text", "Hello there!")]
    assert via.result.stop_reason == "end_turn"
    events = [e.event for e in sse_events(via.seen.body)]
    assert events[0] == "message_start" and events[-2:] == ["message_delta", "message_stop"]
    [carrier] = impacts_carriers(via.seen.body)
    assert carrier["type"] == "message_delta"
    assert carrier["usage"]["output_tokens"] == CHAT_USAGE["completion_tokens"]
