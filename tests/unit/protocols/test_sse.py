"""SSE framing as the WHATWG standard defines it: CRLF, LF and bare CR, however chunked."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.sse import EventSplitter, data_of, fields, terminated, with_data

EVENTS = [
    b'data: {"a":1}', b'event: message_delta\ndata: {"b":2}', b": keep-alive", b"data: [DONE]"
]


def framed(newline: bytes) -> bytes:
    return b"".join(e.replace(b"\n", newline) + newline + newline for e in EVENTS)


def split_all(stream: bytes, cuts: list[int]) -> tuple[list[bytes], bytes]:
    """The events of `stream` fed in pieces, and what was left at its end, terminated."""
    splitter = EventSplitter()
    events: list[bytes] = []
    start = 0
    for cut in sorted(set(cuts)) + [len(stream)]:
        events.extend(splitter.split(stream[start:cut]))
        start = cut
    rest = splitter.rest()
    if rest == terminated(rest) and rest:  # the end of the stream completed the last event
        events.append(rest)
        rest = b""
    return events, rest


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_each_line_ending_gives_the_same_events(newline: bytes) -> None:
    stream = framed(newline)
    events, rest = split_all(stream, [])
    assert rest == b""
    assert b"".join(events) == stream  # relayed byte for byte
    assert [fields(e) for e in events] == [
        (b"", b'{"a":1}'), (b"message_delta", b'{"b":2}'), (b"", None), (b"", b"[DONE]"),
    ]


@given(st.sampled_from([b"\n", b"\r\n", b"\r"]), st.lists(st.integers(0, 120), max_size=12))
def test_any_chunking_gives_the_same_events(newline: bytes, cuts: list[int]) -> None:
    stream = framed(newline)
    whole, _ = split_all(stream, [])
    pieces, rest = split_all(stream, [c for c in cuts if c < len(stream)])
    assert b"".join(pieces) + rest == stream
    assert [fields(e) for e in pieces] == [fields(e) for e in whole]


def test_a_cr_at_a_chunk_end_waits_for_a_possible_lf() -> None:
    splitter = EventSplitter()
    assert splitter.split(b"data: x\r\n\r") == []
    assert splitter.split(b"\n") == [b"data: x\r\n\r\n"]


def test_mixed_line_endings_and_multiline_data() -> None:
    event = b"event: e\r\ndata: one\rdata: two\ndata:three\r\n\n"
    assert fields(event) == (b"e", b"one\ntwo\nthree")
    assert data_of(b"data: x\n\n") == b"x"


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_with_data_keeps_other_lines_and_the_line_ending(newline: bytes) -> None:
    event = b"event: message_delta" + newline + b"data: {}" + newline + b"id: 7" + newline + newline
    out = with_data(event, b'{"x":1}')
    assert out == (b"event: message_delta" + newline + b'data: {"x":1}' + newline + b"id: 7"
                   + newline + newline)
    assert fields(out) == (b"message_delta", b'{"x":1}')


@pytest.mark.parametrize(
    ("rest", "expected"),
    [(b"data: x\r\r", b"data: x\r\r"), (b"data: x", b"data: x\n\n"),
     (b"data: x\r\n", b"data: x\r\n\r\n"), (b"data: x\r", b"data: x\r\r")],
)
def test_a_cut_stream_is_terminated_in_its_own_style(rest: bytes, expected: bytes) -> None:
    assert terminated(rest) == expected
