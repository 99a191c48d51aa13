"""The Anthropic SSE relay: usage is the last cumulative values, impacts on the last delta."""

from __future__ import annotations

import orjson

from proxy.protocols.anthropic_messages import MessagesStreamRelay as AnthropicStreamRelay
from proxy.sse import data_of as event_data
from proxy.usage import TokenUsage


def event(payload: dict) -> bytes:
    return b"event: " + payload["type"].encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


START = event({"type": "message_start", "message": {
    "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x", "content": [],
    "usage": {"input_tokens": 5, "cache_creation_input_tokens": 2,
              "cache_read_input_tokens": 3, "output_tokens": 1}}})
TEXT = event({"type": "content_block_delta", "index": 0,
              "delta": {"type": "text_delta", "text": "hello there"}})


def run(events: list[bytes], split: int = 7) -> tuple[list[bytes], list[TokenUsage | None]]:
    seen: list[TokenUsage | None] = []

    def meter(usage: TokenUsage | None) -> bytes:
        seen.append(usage)
        return b'{"energy_wh":1}'

    relay = AnthropicStreamRelay(meter)
    raw = b"".join(events)
    out: list[bytes] = []
    for i in range(0, len(raw), split):  # arbitrary chunk boundaries
        out += relay.feed(raw[i : i + split])
    out += relay.close()
    return out, seen


def test_last_message_delta_wins_and_carries_impacts() -> None:
    first = event({"type": "message_delta", "delta": {"stop_reason": None},
                   "usage": {"output_tokens": 4}})
    last = event({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                  "usage": {"output_tokens": 9, "input_tokens": 6}})
    stop = event({"type": "message_stop"})
    out, seen = run([START, TEXT, first, last, stop])
    # cumulative values: the last ones count, never the sum; input = 6 + 2 + 3
    assert seen == [TokenUsage(input_tokens=11, output_tokens=9, cached_input_tokens=3)]
    body = b"".join(out)
    assert body.startswith(START) and body.endswith(stop)
    deltas = [orjson.loads(event_data(e)) for e in body.split(b"\n\n") if b"message_delta" in e]
    assert "impacts" not in deltas[0] and deltas[1]["impacts"] == {"energy_wh": 1}


def test_other_events_pass_through_byte_for_byte() -> None:
    ping = b"event: ping\ndata: {\"type\": \"ping\"}\n\n"
    out, _ = run([START, ping, TEXT])
    assert b"".join(out) == START + ping + TEXT


def test_stream_cut_before_message_delta_counts_output_locally() -> None:
    _, seen = run([START, TEXT])
    [usage] = seen
    assert usage is not None and usage.input_tokens == 10 and usage.output_tokens >= 2
