"""What reaches the upstream: headers, paths and encoded bodies, against the table."""

from __future__ import annotations

import json
from urllib.parse import unquote

import pytest

from tests.conformance.compat import (
    assert_answer_faithful,
    assert_request_faithful,
    team_allowed,
)
from tests.conformance.encodings import CODINGS, PLAIN, PLAIN_STREAM, encode
from tests.conformance.harness import Harness, Side
from tests.conformance.replies import ChatCompletion, ChatStream, pretty
from tests.conformance.upstream import Capture, Piece, RecordingUpstream, Reply

CHAT = "/v1/chat/completions"
JSON = ("Content-Type", "application/json")
CLIENT_HEADERS = [
    JSON,
    ("Accept", "application/json"),
    ("Accept-Encoding", "gzip"),
    ("User-Agent", "curl/8.5.0"),
    ("OpenAI-Beta", "assistants=v2"),
    ("Idempotency-Key", "idem-42"),
    ("X-Stainless-Lang", "python"),
    ("OpenAI-Organization", "org-someone-else"),
    ("OpenAI-Project", "proj_someone_else"),
    ("Cookie", "session=abc"),
    ("X-Trace-Tag", "t-1"),
    ("X-Wattgate-Team", "ops"),
    ("TE", "trailers"),
    ("Connection", "keep-alive, X-Hop-Only"),
    ("X-Hop-Only", "1"),
    ("Keep-Alive", "timeout=5"),
    ("Proxy-Authorization", "Basic Zm9vOmJhcg=="),
]


def test_client_headers(harness: Harness, upstream: RecordingUpstream, side: Side) -> None:
    """Hop-by-hop, cookie and x-wattgate-* headers stop at Wattgate; open mode forwards the
    rest, team-key mode only the allow-listed ones (a team cannot pick another
    organisation)."""
    upstream.script(ChatCompletion())
    direct, via = harness.both("http", "POST", CHAT, headers=CLIENT_HEADERS, content=PLAIN)
    assert_request_faithful(direct.capture, via.capture, mode=side.mode,
                            endpoint="chat.completions")
    forwarded = {k.lower() for k, _ in via.capture.header_lines}
    assert not forwarded & {"te", "keep-alive", "proxy-authorization", "x-wattgate-team",
                            "cookie", "x-hop-only"}
    if side.mode == "team":
        assert not forwarded & {"openai-organization", "openai-project"}
        assert all(team_allowed(k) or k in ("authorization", "host", "content-length")
                   for k in forwarded)
    else:
        assert {"openai-organization", "openai-project", "x-trace-tag"} <= forwarded


def test_nothing_added_to_a_minimal_request(harness: Harness, upstream: RecordingUpstream,
                                            side: Side) -> None:
    """A request with only the headers it needs gets no others on its way up (no Accept,
    Accept-Encoding or User-Agent of the gateway's own HTTP client)."""
    upstream.script(ChatCompletion())
    direct, via = harness.both("raw", "POST", CHAT, headers=[JSON], body=PLAIN)
    assert_request_faithful(direct.capture, via.capture, mode=side.mode,
                            endpoint="chat.completions")


@pytest.mark.parametrize("coding", CODINGS)
@pytest.mark.parametrize("streamed", [False, True], ids=["unchanged", "changed"])
def test_encoded_request_body(harness: Harness, upstream: RecordingUpstream, side: Side,
                              coding: str, streamed: bool) -> None:
    """A compressed request body is read (model, stream) and goes up as sent when Wattgate
    leaves it alone, or decoded, as identity JSON, when Wattgate must change it (a streamed
    call gets `stream_options`)."""
    plain = PLAIN_STREAM if streamed else PLAIN
    upstream.script(ChatStream() if streamed else ChatCompletion())
    direct, via = harness.both("http", "POST", CHAT, content=encode(coding, plain),
                               headers=[JSON, ("Content-Encoding", coding)])
    assert via.seen.status == 200, via.seen.body[:200]
    assert direct.capture.decoded_body() == plain
    assert_request_faithful(direct.capture, via.capture, mode=side.mode,
                            endpoint="chat.completions")
    assert via.capture.header("content-encoding") == (None if streamed else coding)
    row = side.row(via.request_id)
    assert (row["requested_model"], row["stream"], row["usage_source"]) == (
        "gpt-4o-mini", streamed, "upstream")


def model_object(capture: Capture) -> Reply:
    """GET /models/{id}: the id as the server decoded it from the path."""
    model = unquote(capture.path.rsplit("/models/", 1)[1])
    body = pretty({"id": model, "object": "model", "created": 0, "owned_by": "org"})
    return Reply(200, [("Content-Type", "application/json"), ("x-request-id", "req_m")],
                 [Piece(body)])


@pytest.mark.parametrize("target", [
    "/v1/models/org%2Fname",
    "/v1/models/my%20model",
    "/v1/models/caf%C3%A9",
    "/v1/models/ft%3Agpt-4o-mini%3Aacme%3A%3Aabc123",
    "/v1/models/Qwen%2FQwen2.5-7B?api-version=2024-10-21&q=a%2Fb%20c",
], ids=["slash", "space", "non-ascii", "colons", "query"])
def test_percent_encoded_path(harness: Harness, upstream: RecordingUpstream, side: Side,
                              target: str) -> None:
    """The path and query go up exactly as the client encoded them, below the base path."""
    upstream.script(model_object)
    direct, via = harness.both("raw", "GET", target)
    assert via.capture.target == "/openai" + target
    assert_request_faithful(direct.capture, via.capture, mode=side.mode, endpoint="models")
    assert_answer_faithful(direct.seen, via.seen, endpoint="models", stream=False)


@pytest.mark.parametrize("target", [
    "/v1/models/../../admin/keys",
    "/v1/..%2F..%2Finternal",
    "/v1/models/%2e%2e/%2E%2E/internal",
    "/v1/models/a%00b",
    "/v1/models/a%0D%0AX-Injected:%201",
    "/v1/models/..%5C..%5Cadmin",
], ids=["dot-segments", "encoded-slashes", "encoded-dots", "nul", "crlf", "backslash"])
def test_path_that_would_leave_the_base_path_is_refused(
    harness: Harness, upstream: RecordingUpstream, side: Side, target: str
) -> None:
    """Dot segments (raw or percent-encoded), backslashes and control characters: 400,
    nothing sent."""
    via = harness.raw("GET", target, via=True)
    assert via.seen.status == 400
    assert json.loads(via.seen.body)["error"]["message"]
    assert via.captures == []


def test_open_mode_forwards_other_credentials(open_harness: Harness,
                                              upstream: RecordingUpstream) -> None:
    """Open mode relays what the caller sent: an Azure-style `api-key` header too."""
    upstream.script(ChatCompletion())
    direct, via = open_harness.both("http", "POST", CHAT, content=PLAIN,
                                    credentials=("api-key", "azure-key-of-the-caller"),
                                    headers=[JSON])
    assert via.capture.headers("api-key") == ["azure-key-of-the-caller"]
    assert_request_faithful(direct.capture, via.capture, mode="open",
                            endpoint="chat.completions")
