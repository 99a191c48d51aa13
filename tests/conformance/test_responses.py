"""`POST /v1/responses`, direct and through Wattgate: impacts ride in `response.completed`."""

from __future__ import annotations

import pytest

from tests.conformance.compat import (
    assert_answer_faithful,
    assert_request_faithful,
    impacts_carriers,
    sse_events,
)
from tests.conformance.harness import Harness, Side
from tests.conformance.replies import EOLS, RESPONSES_USAGE, ResponseStream, response
from tests.conformance.upstream import RecordingUpstream

ENDPOINT = "responses"


TOKENS = (RESPONSES_USAGE["input_tokens"], RESPONSES_USAGE["output_tokens"])


def test_response(harness: Harness, upstream: RecordingUpstream, side: Side) -> None:
    upstream.script(response)
    direct, via = harness.both("openai", lambda c: c.responses.create(
        model="gpt-4o-mini", input="Say hi."))
    assert_request_faithful(direct.capture, via.capture, mode=side.mode, endpoint=ENDPOINT)
    [impacts] = assert_answer_faithful(direct.seen, via.seen, endpoint=ENDPOINT, stream=False)
    assert via.result.output_text == "Hi there"
    assert impacts["usage"]["input_tokens"] == RESPONSES_USAGE["input_tokens"]
    side.assert_metered(via.request_id, tokens=TOKENS)


@pytest.mark.parametrize("eol", EOLS)
def test_response_stream(harness: Harness, upstream: RecordingUpstream, side: Side,
                         eol: str) -> None:
    upstream.script(ResponseStream(eol=EOLS[eol]))
    direct, via = harness.both("openai", lambda c: list(c.responses.create(
        model="gpt-4o-mini", input="Say hi.", stream=True)))
    assert_request_faithful(direct.capture, via.capture, mode=side.mode, endpoint=ENDPOINT)
    assert_answer_faithful(direct.seen, via.seen, endpoint=ENDPOINT, stream=True)
    [carrier] = impacts_carriers(via.seen.body)
    assert carrier["type"] == "response.completed" and "impacts" in carrier["response"]
    assert sse_events(via.seen.body)[-1].event == "response.completed"
    assert [e.type for e in via.result] == [e.type for e in direct.result]
    side.assert_metered(via.request_id, tokens=TOKENS)
