"""`POST /v1/messages` to an Anthropic upstream, direct and through Wattgate."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conformance.compat import (
    ANTHROPIC_VERSION,
    Route,
    assert_answer_faithful,
    assert_request_faithful,
    impacts_carriers,
    sse_events,
)
from tests.conformance.harness import Harness, Side
from tests.conformance.replies import (
    ANTHROPIC_USAGE,
    EOLS,
    AnthropicStream,
    anthropic_message,
    compact,
)
from tests.conformance.upstream import RecordingUpstream

ENDPOINT = "messages"
ANTHROPIC = Route(upstream="anthropic")
MODEL = "claude-sonnet-4-6"
HI = [{"role": "user", "content": "Say hello."}]


def create(**kwargs: Any) -> Any:
    return lambda client: client.messages.create(model=MODEL, max_tokens=64, messages=HI,
                                                 **kwargs)


TOKENS = (ANTHROPIC_USAGE["input_tokens"], ANTHROPIC_USAGE["output_tokens"])


def test_message(harness: Harness, upstream: RecordingUpstream, side: Side) -> None:
    """The SDK sends its key as `Authorization: Bearer` (as OAuth clients do): in open
    mode that header goes up as sent."""
    upstream.script(anthropic_message)
    direct, via = harness.both("anthropic", create())
    assert_request_faithful(direct.capture, via.capture, mode=side.mode, endpoint=ENDPOINT,
                            route=ANTHROPIC)
    [impacts] = assert_answer_faithful(direct.seen, via.seen, endpoint=ENDPOINT, stream=False)
    assert via.result.content[0].text == "Hello there!"
    assert impacts["usage"]["output_tokens"] == ANTHROPIC_USAGE["output_tokens"]
    side.assert_metered(via.request_id, tokens=TOKENS, stream=False)


@pytest.mark.parametrize("eol", EOLS)
def test_message_stream(harness: Harness, upstream: RecordingUpstream, side: Side,
                        eol: str) -> None:
    """Events (pings included) reach the client as sent; impacts ride on the last
    `message_delta`."""
    upstream.script(AnthropicStream(eol=EOLS[eol]))
    direct, via = harness.both("anthropic", lambda client: list(create(stream=True)(client)))
    assert_request_faithful(direct.capture, via.capture, mode=side.mode, endpoint=ENDPOINT,
                            route=ANTHROPIC)
    assert_answer_faithful(direct.seen, via.seen, endpoint=ENDPOINT, stream=True)
    [carrier] = impacts_carriers(via.seen.body)
    assert carrier["type"] == "message_delta"
    assert [e.event for e in sse_events(via.seen.body)][-2:] == ["message_delta", "message_stop"]
    assert [e.type for e in via.result] == [e.type for e in direct.result]
    side.assert_metered(via.request_id, tokens=TOKENS, stream=True)


def raw_message(harness: Harness, headers: list[tuple[str, str]]) -> tuple[Any, Any]:
    body = compact({"model": MODEL, "max_tokens": 64, "messages": HI})
    return harness.both("http", "POST", "/v1/messages", anthropic=True, content=body,
                        headers=[("content-type", "application/json"), *headers])


def test_anthropic_version_added_when_missing(harness: Harness, upstream: RecordingUpstream,
                                              side: Side) -> None:
    upstream.script(anthropic_message)
    direct, via = raw_message(harness, [])
    assert direct.capture.header("anthropic-version") is None
    assert via.capture.headers("anthropic-version") == [ANTHROPIC_VERSION]
    assert_request_faithful(direct.capture, via.capture, mode=side.mode, endpoint=ENDPOINT,
                            route=ANTHROPIC)


def test_repeated_header_lines_reach_the_upstream(harness: Harness,
                                                  upstream: RecordingUpstream,
                                                  side: Side) -> None:
    """Two `anthropic-beta:` lines go up as two lines, in order."""
    upstream.script(anthropic_message)
    betas = [("anthropic-version", ANTHROPIC_VERSION),
             ("anthropic-beta", "prompt-caching-2024-07-31"),
             ("anthropic-beta", "token-efficient-tools-2025-02-19")]
    direct, via = raw_message(harness, betas)
    assert via.capture.headers("anthropic-beta") == ["prompt-caching-2024-07-31",
                                                     "token-efficient-tools-2025-02-19"]
    assert_request_faithful(direct.capture, via.capture, mode=side.mode, endpoint=ENDPOINT,
                            route=ANTHROPIC)
    assert_answer_faithful(direct.seen, via.seen, endpoint=ENDPOINT, stream=False)
