"""`POST /v1/completions` and `POST /v1/embeddings`, direct and through Wattgate."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conformance.compat import (
    assert_answer_faithful,
    assert_request_faithful,
    impacts_carriers,
)
from tests.conformance.harness import Harness, Side
from tests.conformance.replies import CompletionStream, Embedding, completion
from tests.conformance.upstream import RecordingUpstream

MODEL = "gpt-3.5-turbo-instruct"


def test_completion(harness: Harness, upstream: RecordingUpstream, side: Side) -> None:
    upstream.script(completion)
    direct, via = harness.both(
        "openai", lambda c: c.completions.create(model=MODEL, prompt="Once", max_tokens=4))
    assert_request_faithful(direct.capture, via.capture, mode=side.mode, endpoint="completions")
    [impacts] = assert_answer_faithful(direct.seen, via.seen, endpoint="completions",
                                       stream=False)
    side.assert_metered(via.request_id, tokens=(4, 4), stream=False)
    assert impacts["usage"]["output_tokens"] == 4


@pytest.mark.parametrize("asked", [False, True], ids=["usage-not-asked", "usage-asked"])
def test_completion_stream(harness: Harness, upstream: RecordingUpstream, side: Side,
                           asked: bool) -> None:
    upstream.script(CompletionStream(eol=b"\r\n"))
    options: dict[str, Any] = {"stream_options": {"include_usage": True}} if asked else {}
    direct, via = harness.both("openai", lambda c: list(c.completions.create(
        model=MODEL, prompt="Once", max_tokens=4, stream=True, **options)))
    assert_request_faithful(direct.capture, via.capture, mode=side.mode, endpoint="completions")
    assert_answer_faithful(direct.seen, via.seen, endpoint="completions", stream=True)
    [carrier] = impacts_carriers(via.seen.body)
    if asked:
        assert carrier["choices"] == [] and carrier["usage"]["completion_tokens"] == 4
    else:
        assert carrier["choices"][0]["finish_reason"] == "length"
        assert all(chunk.choices for chunk in via.result)
    side.assert_metered(via.request_id, tokens=(4, 4), stream=True)


@pytest.mark.parametrize("gzip_body", [False, True], ids=["identity", "gzip"])
def test_embeddings(harness: Harness, upstream: RecordingUpstream, side: Side,
                    gzip_body: bool) -> None:
    upstream.script(Embedding(gzip_body=gzip_body))
    direct, via = harness.both("openai", lambda c: c.embeddings.create(
        model="text-embedding-3-small", input="The food was delicious."))
    assert_request_faithful(direct.capture, via.capture, mode=side.mode, endpoint="embeddings")
    assert_answer_faithful(direct.seen, via.seen, endpoint="embeddings", stream=False)
    assert via.result.data[0].embedding == direct.result.data[0].embedding == [1.0, 2.0, 3.0]
    side.assert_metered(via.request_id, tokens=(6, 0))
