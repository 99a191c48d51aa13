"""The Chat Completions stream relay: usage chunk shapes, impacts placement, errors, framing."""

from __future__ import annotations

import orjson
import pytest

from proxy.protocols.chat_completions import ChatStreamRelay
from proxy.sse import EventSplitter, fields
from proxy.usage import TokenUsage

IMPACTS = b'{"energy_wh":{"value":1}}'


def chunk(**fields_: object) -> dict:
    return {"id": "c1", "object": "chat.completion.chunk", "model": "gpt-4o", **fields_}


def content(text: str) -> dict:
    return chunk(choices=[{"index": 0, "delta": {"content": text}, "finish_reason": None}])


FINISH = chunk(choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}])
USAGE = {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}
USAGE_SHAPES = {
    "empty list": chunk(choices=[], usage=USAGE),
    "null": chunk(choices=None, usage=USAGE),
    "missing": chunk(usage=USAGE),
}


def stream(chunks: list[dict | str], newline: bytes = b"\n") -> bytes:
    out = b""
    for c in chunks:
        data = c.encode() if isinstance(c, str) else orjson.dumps(c)
        out += b"data: " + data + newline + newline
    return out


def relay_all(raw: bytes, *, client_wants_usage: bool, usage_asked: bool, split: int = 5):
    metered: list[TokenUsage | None] = []

    def meter(usage: TokenUsage | None) -> bytes:
        metered.append(usage)
        return IMPACTS

    relay = ChatStreamRelay(meter, client_wants_usage=client_wants_usage, usage_asked=usage_asked)
    out: list[bytes] = []
    for i in range(0, len(raw), split):
        out.extend(relay.feed(raw[i : i + split]))
    out.extend(relay.close())
    sent = b"".join(out)
    splitter = EventSplitter()
    payloads = [fields(e)[1] for e in splitter.split(sent + b"\n\n")]
    parsed = [p if p == b"[DONE]" else orjson.loads(p) for p in payloads if p]
    return sent, parsed, metered, relay


@pytest.mark.parametrize("shape", sorted(USAGE_SHAPES))
def test_the_usage_chunk_asked_for_never_reaches_a_client_that_did_not_ask(shape: str) -> None:
    raw = stream([content("Hel"), content("lo"), FINISH, USAGE_SHAPES[shape], "[DONE]"])
    _, parsed, metered, _ = relay_all(raw, client_wants_usage=False, usage_asked=True)
    chunks = [c for c in parsed if isinstance(c, dict)]
    assert all(c.get("choices") for c in chunks)
    assert all("usage" not in c for c in chunks)
    assert [c.get("impacts") for c in chunks] == [None, None, orjson.loads(IMPACTS)]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert parsed[-1] == b"[DONE]"
    assert metered == [TokenUsage(input_tokens=7, output_tokens=2)]


@pytest.mark.parametrize("shape", sorted(USAGE_SHAPES))
def test_a_client_that_asked_gets_the_usage_chunk_with_impacts(shape: str) -> None:
    raw = stream([content("Hi"), FINISH, USAGE_SHAPES[shape], "[DONE]"])
    sent, parsed, _, _ = relay_all(raw, client_wants_usage=True, usage_asked=False)
    usage_chunk = parsed[-2]
    assert usage_chunk["usage"] == USAGE and usage_chunk["impacts"] == orjson.loads(IMPACTS)
    # every other event is the upstream's, byte for byte
    assert sent.replace(b',"impacts":' + IMPACTS, b"") == raw


def test_null_usage_fields_added_by_the_option_are_removed() -> None:
    raw = stream([{**content("a"), "usage": None}, {"usage": None, **FINISH},
                  USAGE_SHAPES["empty list"], "[DONE]"])
    _, parsed, _, _ = relay_all(raw, client_wants_usage=False, usage_asked=True)
    assert all("usage" not in c for c in parsed if isinstance(c, dict))


def test_usage_riding_on_a_choices_chunk() -> None:
    raw = stream([content("a"), {**FINISH, "usage": USAGE}, "[DONE]"])
    _, parsed, metered, _ = relay_all(raw, client_wants_usage=False, usage_asked=True)
    last = parsed[-2]
    assert "usage" not in last and last["impacts"] and last["choices"][0]["finish_reason"]
    assert metered == [TokenUsage(input_tokens=7, output_tokens=2)]


def test_without_usage_the_stream_is_metered_locally_on_the_finish_chunk() -> None:
    raw = stream([content("Hello there"), FINISH, "[DONE]"])
    _, parsed, metered, relay = relay_all(raw, client_wants_usage=False, usage_asked=False)
    assert metered == [None]
    assert parsed[-2]["impacts"] and parsed[-2]["choices"][0]["finish_reason"] == "stop"
    assert relay.output_texts() == ["Hello there"]


def test_an_error_event_after_the_200_marks_the_stream_failed() -> None:
    error = {"error": {"message": "overloaded", "type": "server_error"}}
    raw = stream([content("par"), error])
    sent, parsed, metered, relay = relay_all(raw, client_wants_usage=False, usage_asked=True)
    assert relay.error == "upstream_stream_error"
    assert error in parsed  # relayed as it came
    assert metered == [None] and relay.output_texts() == ["par"]


@pytest.mark.parametrize("newline", [b"\r\n", b"\r"])
def test_crlf_and_cr_framed_streams_are_metered(newline: bytes) -> None:
    raw = stream([content("Hi"), FINISH, USAGE_SHAPES["empty list"], "[DONE]"], newline)
    sent, parsed, metered, _ = relay_all(raw, client_wants_usage=False, usage_asked=True)
    assert metered == [TokenUsage(input_tokens=7, output_tokens=2)]
    assert parsed[-2]["impacts"]
    assert b"\n\n" not in sent.replace(b"\r\n", b"")  # the upstream's framing is kept


def test_keep_alive_comments_pass_through() -> None:
    raw = b": ping\n\n" + stream([content("a"), FINISH, "[DONE]"])
    sent, _, _, _ = relay_all(raw, client_wants_usage=False, usage_asked=False)
    assert sent.startswith(b": ping\n\n")
