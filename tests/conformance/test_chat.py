"""`POST /v1/chat/completions`, direct and through Wattgate, streamed or not, with quirks."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conformance.compat import (
    Route,
    assert_answer_faithful,
    assert_request_faithful,
    impacts_carriers,
    json_payloads,
)
from tests.conformance.harness import (
    ALIAS_HEADER,
    ALIASED_MODEL,
    UPSTREAM_MODEL,
    Harness,
    Side,
)
from tests.conformance.replies import (
    CHAT_USAGE,
    EOLS,
    PARALLEL_TOOL_DELTAS,
    SHARED_INDEX_TOOL_DELTAS,
    USAGE_SHAPES,
    ChatCompletion,
    ChatStream,
    compact,
    error_reply,
    json_reply,
)
from tests.conformance.upstream import RecordingUpstream

HI = [{"role": "user", "content": "Say hello."}]
ENDPOINT = "chat.completions"
ASKED = {"stream_options": {"include_usage": True}}


def create(model: str = "gpt-4o-mini", **kwargs: Any) -> Any:
    return lambda client: client.chat.completions.create(model=model, messages=HI, **kwargs)


def stream(model: str = "gpt-4o-mini", **kwargs: Any) -> Any:
    """A streamed call read to the end the way applications do, `chunk.choices[0]` and all."""

    def call(client: Any) -> list[Any]:
        chunks = list(client.chat.completions.create(model=model, messages=HI, stream=True,
                                                     **kwargs))
        if "stream_options" not in kwargs:
            for chunk in chunks:
                assert chunk.choices, "a chunk without choices reached a client that never "\
                                      "asked for usage"
                _ = chunk.choices[0].delta
        return chunks

    return call


TOKENS = (CHAT_USAGE["prompt_tokens"], CHAT_USAGE["completion_tokens"])


def test_completion(harness: Harness, upstream: RecordingUpstream, side: Side) -> None:
    upstream.script(ChatCompletion())
    direct, via = harness.both("openai", create())
    assert_request_faithful(direct.capture, via.capture, mode=side.mode, endpoint=ENDPOINT)
    impacts = assert_answer_faithful(direct.seen, via.seen, endpoint=ENDPOINT, stream=False)
    assert via.result.model_extra["impacts"] == impacts[0]
    assert impacts[0]["usage"]["output_tokens"] == CHAT_USAGE["completion_tokens"]
    side.assert_metered(via.request_id, tokens=TOKENS, stream=False)


@pytest.mark.parametrize("eol", EOLS)
@pytest.mark.parametrize("asked", [False, True], ids=["usage-not-asked", "usage-asked"])
def test_stream_line_endings(harness: Harness, upstream: RecordingUpstream, side: Side,
                             eol: str, asked: bool) -> None:
    """CRLF, LF and bare CR end SSE lines (WHATWG); each reaches the client as sent."""
    upstream.script(ChatStream(eol=EOLS[eol]))
    direct, via = harness.both("openai", stream(**(ASKED if asked else {})))
    assert_request_faithful(direct.capture, via.capture, mode=side.mode, endpoint=ENDPOINT)
    impacts = assert_answer_faithful(direct.seen, via.seen, endpoint=ENDPOINT, stream=True)
    [carrier] = impacts_carriers(via.seen.body)
    assert len(impacts) == 1
    if asked:
        assert carrier["choices"] == [] and carrier["usage"] == CHAT_USAGE
    else:
        assert carrier["choices"][0]["finish_reason"] == "stop"
    assert impacts[0]["usage"]["source"] == "upstream"
    side.assert_metered(via.request_id, tokens=TOKENS, stream=True)


def test_stream_keepalive_comments(harness: Harness, upstream: RecordingUpstream,
                                   side: Side) -> None:
    """`: ping` comments between events are relayed where they were."""
    upstream.script(ChatStream(keepalive=True, eol=b"\r\n"))
    direct, via = harness.both("openai", stream())
    assert_request_faithful(direct.capture, via.capture, mode=side.mode, endpoint=ENDPOINT)
    assert_answer_faithful(direct.seen, via.seen, endpoint=ENDPOINT, stream=True)
    assert via.seen.body.count(b": ping\r\n\r\n") == len(ChatStream().deltas)
    side.assert_metered(via.request_id, tokens=TOKENS, stream=True)


@pytest.mark.parametrize("shape", USAGE_SHAPES)
@pytest.mark.parametrize("asked", [False, True], ids=["usage-not-asked", "usage-asked"])
def test_usage_chunk_shapes(harness: Harness, upstream: RecordingUpstream, side: Side,
                            shape: str, asked: bool) -> None:
    """Whatever shape the usage comes in, a client that did not ask never sees it (the
    stream is the one it gets direct), and one that asked gets it with impacts on it."""
    upstream.script(ChatStream(usage_shape=shape))  # type: ignore[arg-type]
    direct, via = harness.both("openai", stream(**(ASKED if asked else {})))
    assert_request_faithful(direct.capture, via.capture, mode=side.mode, endpoint=ENDPOINT)
    assert_answer_faithful(direct.seen, via.seen, endpoint=ENDPOINT, stream=True)
    [carrier] = impacts_carriers(via.seen.body)
    if asked:
        assert carrier["usage"] == CHAT_USAGE
    else:
        assert carrier["choices"][0]["finish_reason"] == "stop"
        assert all("usage" not in p for p in json_payloads(via.seen.body))
    side.assert_metered(via.request_id, tokens=TOKENS, stream=True)


@pytest.mark.parametrize("deltas", [PARALLEL_TOOL_DELTAS, SHARED_INDEX_TOOL_DELTAS],
                         ids=["parallel", "shared-index"])
def test_stream_tool_call_deltas(harness: Harness, upstream: RecordingUpstream, side: Side,
                                 deltas: list[dict[str, Any]]) -> None:
    """Chat clients get tool-call deltas exactly as the upstream sent them."""
    upstream.script(ChatStream(deltas=deltas, finish_reason="tool_calls"))
    direct, via = harness.both("openai", stream())
    assert_request_faithful(direct.capture, via.capture, mode=side.mode, endpoint=ENDPOINT)
    assert_answer_faithful(direct.seen, via.seen, endpoint=ENDPOINT, stream=True)
    [carrier] = impacts_carriers(via.seen.body)
    assert carrier["choices"][0]["finish_reason"] == "tool_calls"
    side.assert_metered(via.request_id, tokens=TOKENS, stream=True)


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "stream"])
def test_gzip_answer_is_decoded(harness: Harness, upstream: RecordingUpstream, side: Side,
                                streamed: bool) -> None:
    """A gzip answer on a metered endpoint reaches the client decoded, impacts added."""
    upstream.script(ChatStream(gzip_body=True) if streamed else ChatCompletion(gzip_body=True))
    direct, via = harness.both("openai", stream() if streamed else create())
    assert direct.seen.header("content-encoding") == "gzip"
    assert_request_faithful(direct.capture, via.capture, mode=side.mode, endpoint=ENDPOINT)
    assert_answer_faithful(direct.seen, via.seen, endpoint=ENDPOINT, stream=streamed)
    assert via.seen.header("content-encoding") is None
    assert len(impacts_carriers(via.seen.body) if streamed else [via.result.model_extra]) == 1
    side.assert_metered(via.request_id, tokens=TOKENS, stream=streamed)


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "stream"])
def test_upstream_model_replaces_model(harness: Harness, upstream: RecordingUpstream,
                                       side: Side, streamed: bool) -> None:
    """A deployment's `upstream_model` replaces the model; its `headers:` are added."""
    upstream.script(ChatStream() if streamed else ChatCompletion())
    direct, via = harness.both("openai", stream(ALIASED_MODEL) if streamed
                               else create(ALIASED_MODEL))
    assert via.capture.json()["model"] == UPSTREAM_MODEL
    assert_request_faithful(direct.capture, via.capture, mode=side.mode, endpoint=ENDPOINT,
                            route=Route(upstream_model=UPSTREAM_MODEL, headers=(ALIAS_HEADER,)))
    assert_answer_faithful(direct.seen, via.seen, endpoint=ENDPOINT, stream=streamed)
    assert via.seen.header("x-wattgate-deployment") == ALIASED_MODEL


def raw_chat(harness: Harness, body: dict[str, Any]) -> tuple[Any, Any]:
    return harness.both("http", "POST", "/v1/chat/completions", content=compact(body),
                        headers=[("Content-Type", "application/json")])


def test_error_event_mid_stream(harness: Harness, upstream: RecordingUpstream,
                                side: Side) -> None:
    """`data: {"error": ...}` after a 200: relayed as sent; the call is recorded as failed,
    with the tokens that arrived before it."""
    upstream.script(ChatStream(error_after=3))  # role, "Hel", "lo", then the error
    direct, via = raw_chat(harness, {"model": "gpt-4o-mini", "messages": HI, "stream": True})
    assert_request_faithful(direct.capture, via.capture, mode=side.mode, endpoint=ENDPOINT)
    impacts = assert_answer_faithful(direct.seen, via.seen, endpoint=ENDPOINT, stream=True)
    assert impacts == [], "no chunk carries a finish_reason, so none carries impacts"
    assert "error" in json_payloads(via.seen.body)[-1]
    row = side.row(via.request_id)
    assert row["status_code"] >= 400 and row["error_type"]
    assert row["usage_source"] == "estimated"
    assert row["input_tokens"] > 0 and row["output_tokens"] >= 1  # "Hel" + "lo" arrived


def test_answer_that_is_not_json(harness: Harness, upstream: RecordingUpstream,
                                 side: Side) -> None:
    """A 200 whose body is not JSON is relayed untouched and recorded as an upstream error."""
    page = b"<html><body>502 Bad Gateway (cached)</body></html>\n"
    upstream.script(lambda capture: json_reply(page, headers=[("Content-Type", "text/html")]))
    direct, via = raw_chat(harness, {"model": "gpt-4o-mini", "messages": HI})
    assert_request_faithful(direct.capture, via.capture, mode=side.mode, endpoint=ENDPOINT)
    assert_answer_faithful(direct.seen, via.seen, endpoint=ENDPOINT, stream=False)
    row = side.row(via.request_id)
    assert row["status_code"] >= 400 and row["error_type"]
    assert row["usage_source"] != "upstream"


def test_upstream_error_is_relayed(harness: Harness, upstream: RecordingUpstream,
                                   side: Side) -> None:
    """A 429 with its Retry-After and rate-limit headers reaches the client as sent."""
    def limited(capture: Any) -> Any:
        reply = error_reply(429, "Rate limit reached for gpt-4o-mini.", kind="requests",
                            reason="Too Many Requests")
        reply.headers.append(("Retry-After", "7"))
        return reply

    upstream.script(limited)
    direct, via = raw_chat(harness, {"model": "gpt-4o-mini", "messages": HI})
    assert direct.seen.status == 429
    assert_request_faithful(direct.capture, via.capture, mode=side.mode, endpoint=ENDPOINT)
    assert_answer_faithful(direct.seen, via.seen, endpoint=ENDPOINT, stream=False)
    row = side.row(via.request_id)
    assert (row["status_code"], row["output_tokens"]) == (429, 0)
