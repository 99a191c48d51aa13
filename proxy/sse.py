"""Server-sent events framed as the WHATWG HTML standard says, for relays that must not re-frame.

An event stream is a sequence of lines; a line ends with CRLF, LF or a bare CR, and a
blank line ends an event. `EventSplitter` cuts arriving bytes into whole events and
returns each one as the exact bytes the upstream sent (terminators included), so an event
the gateway does not need to change is relayed byte for byte. `fields` reads the `event`
type and the `data` of one event; `with_data` rebuilds an event around a new `data`
payload, keeping its other lines and its line-ending style.

Reference: https://html.spec.whatwg.org/multipage/server-sent-events.html#parsing-an-event-stream
"""

from __future__ import annotations

import re

# Two line terminators in a row: the end of an event. A CR is a terminator on its own
# only when no LF follows it (otherwise CRLF is one terminator).
_EVENT_END = re.compile(rb"(?:\r\n|\r(?!\n)|\n)(?:\r\n|\r(?!\n)|\n)")
_ENDS_EVENT = re.compile(rb"(?:\r\n|\r(?!\n)|\n)(?:\r\n|\r|\n)\Z")


class EventSplitter:
    """Cuts a byte stream into complete events, however the bytes were chunked."""

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending = b""

    def split(self, chunk: bytes) -> list[bytes]:
        """The events `chunk` completes, each as its raw bytes, terminators included."""
        data = self._pending + chunk if self._pending else chunk
        if b"\r" not in data:  # the common case: LF-only framing
            events = []
            start = 0
            while (end := data.find(b"\n\n", start)) != -1:
                events.append(data[start : end + 2])
                start = end + 2
            self._pending = data[start:]
            return events
        # A CR at the very end may be the first half of a CRLF: wait for the next byte.
        limit = len(data) - 1 if data.endswith(b"\r") else len(data)
        events = []
        start = 0
        for match in _EVENT_END.finditer(data, 0, limit):
            events.append(data[start : match.end()])
            start = match.end()
        self._pending = data[start:]
        return events

    def rest(self) -> bytes:
        """Whatever arrived after the last complete event (a stream cut mid-event)."""
        rest, self._pending = self._pending, b""
        return rest


def terminated(rest: bytes) -> bytes:
    """What a stream left after its last complete event, as a complete event: as it is
    when the end of the stream completed it (a trailing CR), else with a blank line added
    in the stream's own line-ending style."""
    if _ENDS_EVENT.search(rest):
        return rest
    newline = _newline(rest)
    return rest + (newline if rest.endswith((b"\n", b"\r")) else newline + newline)


def fields(event: bytes) -> tuple[bytes, bytes | None]:
    """(event type, data) of one event; data is None when the event has no `data` line.

    Comment lines (`:`) are ignored; several `data` lines are joined with LF; one space
    after the colon is dropped, as the standard says.
    """
    kind = b""
    data: bytes | None = None
    for line in event.splitlines():  # bytes.splitlines splits on CRLF, CR and LF only
        if not line or line[0] == 0x3A:  # blank line or ":" comment
            continue
        name, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            data = value if data is None else data + b"\n" + value
        elif name == b"event":
            kind = value
    return kind, data


def data_of(event: bytes) -> bytes | None:
    """The `data` of one event (fast path for the usual single `data:` line)."""
    if event.startswith(b"data: ") and event.endswith(b"\n\n") and event.count(b"\n") == 2:
        return event[6:-2]
    return fields(event)[1]


def with_data(event: bytes, payload: bytes) -> bytes:
    """`event` with its data replaced by `payload` (one line), other lines kept as they were."""
    if event.startswith(b"data: ") and event.endswith(b"\n\n") and event.count(b"\n") == 2:
        return b"data: " + payload + b"\n\n"  # the usual single-line LF event
    lines = event.splitlines(keepends=True)
    newline = _newline(event)
    out = []
    replaced = False
    for line in lines:
        if line.startswith(b"data") and line[4:5] in (b":", b"\r", b"\n", b""):
            if not replaced:
                out.append(b"data: " + payload + newline)
                replaced = True
            continue
        out.append(line)
    if not replaced:  # an event without data: add it before the blank line that ends it
        while out and out[-1] in (b"\n", b"\r", b"\r\n"):
            out.pop()
        out.append(b"data: " + payload + newline)
    if not out or out[-1] not in (b"\n", b"\r", b"\r\n"):
        out.append(newline)
    return b"".join(out)


def event(payload: bytes, kind: bytes | None = None) -> bytes:
    """A new LF-framed event."""
    head = b"event: " + kind + b"\n" if kind else b""
    return head + b"data: " + payload + b"\n\n"


def _newline(event: bytes) -> bytes:
    if b"\r\n" in event:
        return b"\r\n"
    if b"\r" in event:
        return b"\r"
    return b"\n"
