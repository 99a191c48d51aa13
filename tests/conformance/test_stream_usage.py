"""A deployment's `stream_usage` setting, against upstreams that refuse `stream_options`.

`inject` always asks the upstream for a usage chunk; `never` leaves the request alone and
counts tokens locally; `auto` (the default) asks, and when the upstream answers 4xx naming
`stream_options`, retries once without it and remembers that for the deployment. Each test
starts its own Wattgate, since `auto` keeps what it learns.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.compat import (
    Route,
    assert_answer_faithful,
    assert_request_faithful,
    impacts_carriers,
)
from tests.conformance.harness import OPENAI_BASE, Harness, Side, running_side
from tests.conformance.replies import ChatStream, rejects_stream_options
from tests.conformance.upstream import RecordingUpstream

MODEL = "strict-model"
HI = [{"role": "user", "content": "Say hello."}]


@pytest.fixture
def strict_side(upstream: RecordingUpstream, tmp_path: Path, request: pytest.FixtureRequest
                ) -> Iterator[Side]:
    """A Wattgate whose `strict-model` deployment has the `stream_usage` the test names
    (indirect parameter; None: the setting left out)."""
    setting = request.param
    line = f"\n          stream_usage: {setting}" if setting else ""
    yield from running_side(upstream, tmp_path, "open", models=f"""
        - name: {MODEL}
          base_url: {upstream.url}{OPENAI_BASE}{line}
    """)


@pytest.fixture
def strict(upstream: RecordingUpstream, strict_side: Side) -> Harness:
    return Harness(upstream, strict_side)


def stream(**kwargs: Any) -> Any:
    return lambda client: list(client.chat.completions.create(model=MODEL, messages=HI,
                                                              stream=True, **kwargs))


@pytest.mark.parametrize("strict_side", ["auto", None], ids=["auto", "default"],
                         indirect=True)
@pytest.mark.parametrize("style", ["openai", "pydantic"])
def test_auto_retries_once_without_and_remembers(strict: Harness, upstream: RecordingUpstream,
                                                 style: str) -> None:
    upstream.script(rejects_stream_options(ChatStream(), style=style))  # type: ignore[arg-type]
    direct, via = strict.both("openai", stream())
    refused, retried = via.captures
    assert refused.json()["stream_options"] == {"include_usage": True}
    assert_request_faithful(direct.capture, retried, mode="open", endpoint="chat.completions",
                            route=Route(stream_usage="never"))
    assert_answer_faithful(direct.seen, via.seen, endpoint="chat.completions", stream=True)
    [carrier] = impacts_carriers(via.seen.body)
    assert carrier["impacts"]["usage"]["source"] == "estimated"
    strict.side.assert_metered(via.request_id, tokens=None, source="estimated")

    again = strict.openai(stream(), via=True)
    assert "stream_options" not in again.capture.json(), "auto remembers the refusal"
    assert_answer_faithful(direct.seen, again.seen, endpoint="chat.completions", stream=True)


@pytest.mark.parametrize("strict_side", ["auto"], indirect=True)
def test_auto_keeps_a_refusal_of_the_clients_own_stream_options(
    strict: Harness, upstream: RecordingUpstream
) -> None:
    """The client asked for usage itself: the upstream's 400 is its answer, as direct."""
    upstream.script(rejects_stream_options(ChatStream()))
    direct, via = strict.both("http", "POST", "/v1/chat/completions",
                              headers=[("Content-Type", "application/json")],
                              content=(b'{"model":"%s","messages":[{"role":"user","content":"hi"}]'
                                       b',"stream":true,"stream_options":{"include_usage":true}}'
                                       % MODEL.encode()))
    assert direct.seen.status == 400
    assert len(via.captures) == 1
    assert_request_faithful(direct.capture, via.capture, mode="open",
                            endpoint="chat.completions")
    assert_answer_faithful(direct.seen, via.seen, endpoint="chat.completions", stream=False)


@pytest.mark.parametrize("strict_side", ["never"], indirect=True)
def test_never_leaves_the_request_alone(strict: Harness, upstream: RecordingUpstream) -> None:
    upstream.script(rejects_stream_options(ChatStream()))
    direct, via = strict.both("openai", stream())
    assert_request_faithful(direct.capture, via.capture, mode="open",
                            endpoint="chat.completions", route=Route(stream_usage="never"))
    assert_answer_faithful(direct.seen, via.seen, endpoint="chat.completions", stream=True)
    assert len(impacts_carriers(via.seen.body)) == 1
    strict.side.assert_metered(via.request_id, tokens=None, source="estimated")


@pytest.mark.parametrize("strict_side", ["inject"], indirect=True)
def test_inject_always_asks(strict: Harness, upstream: RecordingUpstream) -> None:
    """`inject` asks every time and never retries: a refusing upstream's 4xx is relayed."""
    upstream.script(rejects_stream_options(ChatStream()))
    for _ in range(2):
        via = strict.http("POST", "/v1/chat/completions",
                          headers=[("Content-Type", "application/json")], via=True,
                          content=b'{"model":"%s","messages":[],"stream":true}' % MODEL.encode())
        assert via.seen.status == 400
        assert via.capture.json()["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("strict_side", ["auto"], indirect=True)
def test_auto_applies_to_translated_messages(strict: Harness, upstream: RecordingUpstream
                                             ) -> None:
    """An Anthropic client streaming from a strict OpenAI-format deployment works too."""
    upstream.script(rejects_stream_options(ChatStream()))

    def stream_message(client: Any) -> Any:
        with client.messages.stream(model=MODEL, max_tokens=64, messages=HI) as stream:
            return stream.get_final_message()

    via = strict.anthropic(stream_message, via=True)
    assert [b.text for b in via.result.content] == ["Hello there!"]
    assert [("stream_options" in c.json()) for c in via.captures] == [True, False]
    strict.side.assert_metered(via.request_id, tokens=None, source="estimated")
