"""A client that leaves: the upstream request is cancelled at once, streamed or not, and
the call is recorded as 499 with the tokens known so far.

Wattgate should close the upstream connection within about 100 ms of the client closing
its own; the bound here is a generous second, for a loaded machine.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from tests.conformance.client import read_until, send_raw
from tests.conformance.harness import Harness
from tests.conformance.replies import ChatCompletion, ChatStream, compact
from tests.conformance.upstream import Capture, RecordingUpstream

CANCEL_BOUND_S = 1.0


def wait_closed(capture: Capture, timeout_s: float = 2 * CANCEL_BOUND_S) -> float | None:
    """When the gateway closed the upstream connection (None if not within `timeout_s`)."""
    deadline = time.monotonic() + timeout_s
    while capture.client_closed_at is None and time.monotonic() < deadline:
        time.sleep(0.01)
    return capture.client_closed_at


def leave(harness: Harness, upstream: RecordingUpstream, body: dict[str, Any],
          read_to: bytes | None) -> tuple[Capture, float]:
    """Call through Wattgate, hang up once the upstream has the request (and, with
    `read_to`, once those bytes reached the client); the capture and the hang-up time."""
    mark = upstream.mark()
    address, request = harness.written(
        "POST", "/v1/chat/completions", via=True,
        headers=[("Content-Type", "application/json")], body=compact(body))
    sock = send_raw(address, request)
    capture = upstream.wait_for(mark + 1)[mark]
    if read_to is not None:
        assert read_to in read_until(sock, read_to)
    sock.close()
    return capture, time.monotonic()


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "stream"])
def test_client_disconnect_cancels_upstream(harness: Harness, upstream: RecordingUpstream,
                                            streamed: bool) -> None:
    model = f"gpt-4o-mini-{uuid.uuid4().hex[:8]}"  # finds this call's row
    if streamed:  # role, "Hel", "lo", then nothing for 30 s
        upstream.script(ChatStream(model=model, hang_after=3))
    else:
        upstream.script(ChatCompletion(model=model, head_delay_s=30))
    body = {"model": model, "messages": [{"role": "user", "content": "Say hello."}],
            "stream": streamed}
    capture, left_at = leave(harness, upstream, body, b'"lo"' if streamed else None)
    closed_at = wait_closed(capture)
    assert closed_at is not None, "the upstream request outlived the client"
    assert closed_at - left_at < CANCEL_BOUND_S
    row = harness.side.rows_where("requested_model", model)[0]
    assert (row["status_code"], row["stream"]) == (499, streamed)
    if streamed:
        assert row["usage_source"] == "estimated"
        assert row["input_tokens"] > 0 and row["output_tokens"] >= 1  # "Hel" and "lo"
