"""Anthropic Messages <-> Chat Completions translation, and the stream relay built on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from proxy.adapters.messages_chat import (
    MessageStream,
    chat_request,
    message_response,
    stop_reason,
    upstream_error_body,
)
from proxy.adapters.messages_chat_exchange import ChatToMessagesRelay
from proxy.config import load_settings
from proxy.errors import BadRequest
from proxy.protocols.anthropic_messages import error_body
from proxy.routing import Router
from proxy.usage import TokenUsage

# --- request -----------------------------------------------------------------------------


def test_plain_request() -> None:
    body = chat_request({
        "model": "gpt-4o-mini", "max_tokens": 100, "temperature": 0.2, "top_p": 0.9,
        "top_k": 5, "stop_sequences": ["END", "STOP"], "system": "Be brief.",
        "metadata": {"user_id": "u-1"}, "thinking": {"type": "enabled", "budget_tokens": 10},
        "messages": [{"role": "user", "content": "hi"}],
    }, model="upstream-model")
    assert body == {
        "model": "upstream-model",
        "messages": [{"role": "system", "content": "Be brief."},
                     {"role": "user", "content": "hi"}],
        "max_tokens": 100, "temperature": 0.2, "top_p": 0.9, "stop": ["END", "STOP"],
        "user": "u-1",
    }


def test_stream_request_asks_for_usage() -> None:
    body = chat_request({"model": "m", "max_tokens": 8, "stream": True,
                         "messages": [{"role": "user", "content": "hi"}]}, model="m")
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_list_content_blocks_and_images() -> None:
    body = chat_request({
        "model": "m", "max_tokens": 8,
        "system": [{"type": "text", "text": "one"}, {"type": "text", "text": "two",
                                                      "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "a"},
                                         {"type": "text", "text": "b"}]},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "hmm",
                                               "signature": "s"},
                                              {"type": "text", "text": "ok"}]},
            {"role": "user", "content": [
                {"type": "text", "text": "look"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg",
                                             "data": "QUJD"}},
                {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
            ]},
        ],
    }, model="m")
    assert body["messages"] == [
        {"role": "system", "content": "one\ntwo"},
        {"role": "user", "content": "a\nb"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [
            {"type": "text", "text": "look"},
            {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,QUJD"}},
            {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
        ]},
    ]


def test_tool_use_round_trip_request() -> None:
    body = chat_request({
        "model": "m", "max_tokens": 8,
        "tools": [{"name": "weather", "description": "Weather now",
                   "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
        "tool_choice": {"type": "tool", "name": "weather", "disable_parallel_tool_use": True},
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "weather",
                 "input": {"city": "Paris"}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1",
                 "content": [{"type": "text", "text": "18C"}]},
                {"type": "text", "text": "And tomorrow?"},
            ]},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_2", "name": "weather", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_2",
                                          "content": "no data", "is_error": True}]},
        ],
    }, model="m")
    assert body["tools"] == [{"type": "function", "function": {
        "name": "weather", "description": "Weather now",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "weather"}}
    assert body["parallel_tool_calls"] is False
    assert body["messages"][1:] == [
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "toolu_1", "type": "function",
             "function": {"name": "weather", "arguments": '{"city":"Paris"}'}}]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"},
        {"role": "user", "content": "And tomorrow?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "toolu_2", "type": "function",
             "function": {"name": "weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "toolu_2", "content": "Error: no data"},
    ]


@pytest.mark.parametrize(("choice", "expected"), [
    ({"type": "auto"}, "auto"), ({"type": "any"}, "required"), ({"type": "none"}, "none"),
])
def test_tool_choice(choice: dict[str, Any], expected: str) -> None:
    body = chat_request({"model": "m", "messages": [{"role": "user", "content": "x"}],
                         "tool_choice": choice}, model="m")
    assert body["tool_choice"] == expected and "parallel_tool_calls" not in body


@pytest.mark.parametrize("request_", [
    {"model": "m"},
    {"model": "m", "messages": []},
    {"model": "m", "messages": [{"role": "system", "content": "x"}]},
    {"model": "m", "messages": [{"role": "user", "content": 5}]},
    {"model": "m", "messages": [{"role": "user", "content": [
        {"type": "document", "source": {"type": "text", "data": "x"}}]}]},
    {"model": "m", "messages": [{"role": "user", "content": "x"}],
     "tools": [{"type": "web_search_20250305", "name": "web_search"}]},
    {"model": "m", "messages": [{"role": "user", "content": "x"}], "system": [{"type": "image"}]},
])
def test_what_cannot_map_is_a_bad_request(request_: dict[str, Any]) -> None:
    with pytest.raises(BadRequest):
        chat_request(request_, model="m")


# --- response ----------------------------------------------------------------------------


def completion(**message: Any) -> dict[str, Any]:
    finish = message.pop("finish_reason", "stop")
    return {
        "id": "chatcmpl-abc", "object": "chat.completion", "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": {"role": "assistant", **message},
                     "finish_reason": finish}],
        "usage": {"prompt_tokens": 50, "completion_tokens": 7, "total_tokens": 57,
                  "prompt_tokens_details": {"cached_tokens": 10}},
    }


def test_plain_response() -> None:
    message = message_response(completion(content="Hello"), model="gpt-4o-mini")
    assert message == {
        "id": "msg_chatcmpl-abc", "type": "message", "role": "assistant",
        "model": "gpt-4o-mini-2024-07-18", "content": [{"type": "text", "text": "Hello"}],
        "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 40, "output_tokens": 7, "cache_creation_input_tokens": 0,
                  "cache_read_input_tokens": 10},
    }


def test_tool_call_response() -> None:
    message = message_response(completion(
        content=None, finish_reason="tool_calls",
        tool_calls=[{"id": "call_1", "type": "function",
                     "function": {"name": "weather", "arguments": '{"city": "Paris"}'}},
                    {"id": "call_2", "type": "function",
                     "function": {"name": "broken", "arguments": "{not json"}}],
    ), model="m")
    assert message["content"] == [
        {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "call_2", "name": "broken", "input": {}},
    ]
    assert message["stop_reason"] == "tool_use"


def test_response_without_usage_or_choices() -> None:
    doc = completion(content="x")
    del doc["usage"], doc["model"]
    message = message_response(doc, model="asked")
    assert message["usage"] == {"input_tokens": 0, "output_tokens": 0}
    assert message["model"] == "asked"
    empty = message_response({"choices": []}, model="m")
    assert empty["content"] == [] and empty["stop_reason"] == "end_turn"


@pytest.mark.parametrize(("finish", "matched", "expected"), [
    ("stop", None, ("end_turn", None)),
    ("length", None, ("max_tokens", None)),
    ("tool_calls", None, ("tool_use", None)),
    ("content_filter", None, ("refusal", None)),
    ("stop", "END", ("stop_sequence", "END")),  # vLLM names the matched stop string
    ("stop", 128009, ("end_turn", None)),  # ...or the stop token id
    ("something_new", None, ("end_turn", None)),
    (None, None, (None, None)),
])
def test_stop_reasons(finish: Any, matched: Any, expected: tuple[Any, Any]) -> None:
    assert stop_reason(finish, matched, ["END"]) == expected


def test_errors() -> None:
    assert orjson.loads(error_body(429, "slow down")) == {
        "type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
    assert orjson.loads(error_body(500, "x"))["error"]["type"] == "api_error"
    assert orjson.loads(error_body(422, "x"))["error"]["type"] == "invalid_request_error"
    openai = b'{"error": {"message": "Rate limit reached", "type": "requests"}}'
    assert orjson.loads(upstream_error_body(429, openai))["error"] == {
        "type": "rate_limit_error", "message": "Rate limit reached"}
    assert orjson.loads(upstream_error_body(400, b'{"detail": "bad"}'))["error"]["message"] == "bad"
    assert orjson.loads(upstream_error_body(502, b"<html>Bad gateway</html>"))["error"] == {
        "type": "api_error", "message": "<html>Bad gateway</html>"}
    empty = orjson.loads(upstream_error_body(503, b""))
    assert empty["error"]["message"] == "Upstream answered 503."


# --- stream ------------------------------------------------------------------------------


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None,
          **extra: Any) -> dict[str, Any]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish,
                                         **extra}]
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "served",
            "choices": choices}


def events(raw: list[bytes]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for event in b"".join(raw).split(b"\n\n"):
        if event:
            name, data = event.split(b"\n")
            assert name.startswith(b"event: ") and data.startswith(b"data: ")
            payload = orjson.loads(data[6:])
            assert payload["type"] == name[7:].decode()
            out.append((payload["type"], payload))
    return out


def test_text_stream() -> None:
    stream = MessageStream(model="asked")
    raw = stream.feed(chunk({"role": "assistant", "content": ""}))
    for word in ("Hel", "lo"):
        raw += stream.feed(chunk({"content": word}))
    raw += stream.feed(chunk({}, "stop"))
    raw += stream.feed({**chunk(), "usage": {"prompt_tokens": 12, "completion_tokens": 2,
                                             "prompt_tokens_details": {"cached_tokens": 4}}})
    assert stream.complete
    raw += stream.finish(impacts=b'{"energy_wh":{"value":1}}')
    got = events(raw)
    assert [kind for kind, _ in got] == [
        "message_start", "content_block_start", "ping", "content_block_delta",
        "content_block_delta", "content_block_stop", "message_delta", "message_stop"]
    start = got[0][1]["message"]
    assert start["model"] == "served" and start["id"] == "msg_chatcmpl-1"
    assert start["usage"] == {"input_tokens": 0, "output_tokens": 0}
    assert got[1][1]["content_block"] == {"type": "text", "text": ""}
    assert [e["delta"]["text"] for k, e in got if k == "content_block_delta"] == ["Hel", "lo"]
    delta = got[-2][1]
    assert delta["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert delta["usage"] == {"input_tokens": 8, "output_tokens": 2,
                              "cache_creation_input_tokens": 0, "cache_read_input_tokens": 4}
    assert delta["impacts"] == {"energy_wh": {"value": 1}}
    assert stream.texts == ["Hel", "lo"]


def test_tool_call_stream() -> None:
    stream = MessageStream(model="m")
    raw = stream.feed(chunk({"role": "assistant", "content": "Let me look."}))
    raw += stream.feed(chunk({"tool_calls": [{"index": 0, "id": "call_a", "type": "function",
                                              "function": {"name": "weather", "arguments": ""}}]}))
    raw += stream.feed(chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"ci'}}]}))
    raw += stream.feed(chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ty":1}'}}]}))
    raw += stream.feed(chunk({"tool_calls": [{"index": 1, "id": "call_b", "type": "function",
                                              "function": {"name": "time", "arguments": "{}"}}]}))
    raw += stream.feed(chunk({}, "tool_calls"))
    raw += stream.finish()
    got = events(raw)
    assert [(k, e.get("index")) for k, e in got] == [
        ("message_start", None), ("content_block_start", 0), ("ping", None),
        ("content_block_delta", 0), ("content_block_stop", 0),
        ("content_block_start", 1), ("content_block_delta", 1), ("content_block_delta", 1),
        ("content_block_stop", 1), ("content_block_start", 2), ("content_block_delta", 2),
        ("content_block_stop", 2), ("message_delta", None), ("message_stop", None)]
    assert got[5][1]["content_block"] == {"type": "tool_use", "id": "call_a", "name": "weather",
                                          "input": {}}
    partial = "".join(e["delta"]["partial_json"] for k, e in got
                      if k == "content_block_delta" and e["index"] == 1)
    assert partial == '{"city":1}'
    assert got[-2][1]["delta"]["stop_reason"] == "tool_use"
    assert got[-2][1]["usage"] == {"output_tokens": 0}  # no usage upstream, no count given


def tool_blocks(got: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, str, Any]]:
    """(id, name, parsed input) of every tool_use block, from the events."""
    blocks: dict[int, dict[str, Any]] = {}
    for kind, event in got:
        if kind == "content_block_start" and event["content_block"]["type"] == "tool_use":
            blocks[event["index"]] = {**event["content_block"], "json": ""}
        elif kind == "content_block_delta" and event["index"] in blocks:
            blocks[event["index"]]["json"] += event["delta"]["partial_json"]
    return [(b["id"], b["name"], orjson.loads(b["json"] or "{}")) for b in blocks.values()]


def test_calls_sharing_an_index_are_separate_blocks() -> None:
    stream = MessageStream(model="m")
    raw: list[bytes] = []
    for call_id, city in (("call_1", "Paris"), ("call_2", "Oslo")):  # Ollama: index 0 each time
        raw += stream.feed(chunk({"tool_calls": [{
            "index": 0, "id": call_id, "type": "function",
            "function": {"name": "weather", "arguments": orjson.dumps({"city": city}).decode()},
        }]}))
    raw += stream.feed(chunk({}, "stop"))  # Ollama ends tool calls with "stop"
    raw += stream.finish()
    got = events(raw)
    assert tool_blocks(got) == [("call_1", "weather", {"city": "Paris"}),
                                ("call_2", "weather", {"city": "Oslo"})]
    assert got[-2][1]["delta"]["stop_reason"] == "tool_use"
    starts = [e["index"] for k, e in got if k == "content_block_start"]
    stops = [e["index"] for k, e in got if k == "content_block_stop"]
    assert starts == stops == [0, 1]  # blocks never interleave


def test_interleaved_deltas_keep_each_call_whole() -> None:
    stream = MessageStream(model="m")
    raw = stream.feed(chunk({"content": "Let me check."}))
    for index, call_id, name, args in (
        (0, "a", "weather", '{"city":'), (1, "b", "time", '{"tz":'), (0, None, None, '"Rome"}'),
        (1, None, None, '"CET"}'),
    ):
        delta: dict[str, Any] = {"index": index, "function": {"arguments": args}}
        if call_id:
            delta.update(id=call_id, type="function")
            delta["function"]["name"] = name
        raw += stream.feed(chunk({"tool_calls": [delta]}))
    raw += stream.feed(chunk({"content": "\n"}))  # text after the calls (some models do)
    raw += stream.feed(chunk({}, "tool_calls"))
    got = events(raw + stream.finish())
    assert tool_blocks(got) == [("a", "weather", {"city": "Rome"}), ("b", "time", {"tz": "CET"})]
    texts = [e["delta"]["text"] for k, e in got if k == "content_block_delta"
             and e["delta"]["type"] == "text_delta"]
    assert texts == ["Let me check.", "\n"]


def test_a_reply_with_tool_calls_that_says_stop_is_tool_use() -> None:
    chat = {"id": "x", "model": "m", "choices": [{"index": 0, "finish_reason": "stop", "message": {
        "role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
            {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "{}"}}]}}]}
    message = message_response(chat, model="m")
    assert message["stop_reason"] == "tool_use"
    assert [b["id"] for b in message["content"]] == ["c1", "c2"]
    plain = {**chat, "choices": [{"index": 0, "finish_reason": "stop",
                                  "message": {"role": "assistant", "content": "hi"}}]}
    assert message_response(plain, model="m")["stop_reason"] == "end_turn"


def test_stream_stop_sequence_and_missing_usage() -> None:
    stream = MessageStream(model="m", stop_sequences=["END"])
    stream.feed(chunk({"content": "x"}))
    stream.feed(chunk({}, "stop", stop_reason="END"))
    delta = events(stream.finish(output_tokens=3))[-2][1]
    assert delta["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": "END"}
    assert delta["usage"] == {"output_tokens": 3} and "impacts" not in delta


def test_empty_stream_still_makes_a_message() -> None:
    got = events(MessageStream(model="m").finish())
    assert [k for k, _ in got] == ["message_start", "message_delta", "message_stop"]
    assert got[0][1]["message"]["model"] == "m"


# --- the relay (bytes in, bytes out, metered once) ---------------------------------------


def sse(doc: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(doc) + b"\n\n"


class Meter:
    def __init__(self) -> None:
        self.calls: list[TokenUsage | None] = []

    def __call__(self, usage: TokenUsage | None) -> bytes:
        self.calls.append(usage)
        return b'{"energy_wh":{"value":0.5}}'


def test_relay_meters_upstream_usage_and_splits_anywhere() -> None:
    meter = Meter()
    relay = ChatToMessagesRelay(meter, MessageStream(model="m"))
    upstream = b"".join([
        b": keep-alive\n\n",
        sse(chunk({"role": "assistant", "content": ""})), sse(chunk({"content": "Hi"})),
        sse(chunk({}, "stop")),
        sse({**chunk(), "usage": {"prompt_tokens": 9, "completion_tokens": 1}}),
        b"data: [DONE]\n\n",
    ])
    out: list[bytes] = []
    for i in range(0, len(upstream), 7):  # split mid-event
        out += relay.feed(upstream[i:i + 7])
    out += relay.close()
    assert meter.calls == [TokenUsage(input_tokens=9, output_tokens=1)]
    got = events(out)
    assert [k for k, _ in got][-2:] == ["message_delta", "message_stop"]
    assert got[-2][1]["impacts"] == {"energy_wh": {"value": 0.5}}
    assert relay.model == "served" and relay.output_texts() == ["Hi"]


def test_relay_without_usage_counts_output_locally() -> None:
    meter = Meter()
    relay = ChatToMessagesRelay(meter, MessageStream(model="m"))
    out = relay.feed(sse(chunk({"content": "Hello there"})) + sse(chunk({}, "stop")))
    out += relay.close()  # no [DONE] (some servers never send it): finished by close
    assert meter.calls == [None]
    delta = events(out)[-2][1]
    assert delta["usage"]["output_tokens"] > 0 and "impacts" in delta


def test_relay_cut_short_is_metered_but_not_completed() -> None:
    meter = Meter()
    relay = ChatToMessagesRelay(meter, MessageStream(model="m"))
    out = relay.feed(sse(chunk({"content": "Hel"})))
    out += relay.close()
    assert meter.calls == [None]
    assert "message_stop" not in [k for k, _ in events(out)]


# --- routing -----------------------------------------------------------------------------


def test_messages_routing(tmp_path: Path) -> None:
    path = tmp_path / "wattgate.yaml"
    path.write_text("""
models:
  - name: gpt-4o-mini
    base_url: https://api.openai.com/v1
  - name: house
    provider: anthropic
    base_url: https://api.anthropic.com
  - name: house
    provider: vllm
    base_url: http://gpu:8000/v1
  - name: gemini-flash
    provider: gemini
""")
    router = Router(load_settings(env={}, config_path=str(path)))
    assert [d.base_url for d in router.route_messages("gpt-4o-mini")] == [
        "https://api.openai.com/v1"]
    assert [d.provider for d in router.route_messages("house")] == ["anthropic", "vllm"]
    for unlisted in ("gemini-flash", "claude-3-5-haiku-latest", "unknown", None):
        assert [d.provider for d in router.route_messages(unlisted)] == ["anthropic"]
