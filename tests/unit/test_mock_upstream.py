"""The mock upstream, served by a real uvicorn on loopback and read by the official SDKs.

If the SDKs parse it, the proxy's tests can trust it to stand in for OpenAI and Anthropic.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
import uvicorn

from proxy.mock_upstream import MockOptions, create_mock_app

PROMPT = "Tell me a short story about a tiny watt."  # 40 characters -> 10 tokens


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        create_mock_app(MockOptions(output_tokens=5)), lifespan="on", log_level="critical"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "mock upstream did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(5)


@pytest.fixture
def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key="x", max_retries=0)


@pytest.fixture
def claude(base_url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=base_url, api_key="x", max_retries=0)


def _chat(client: openai.OpenAI, **kwargs: Any) -> Any:
    return client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}], **kwargs
    )


def test_chat_completion_echoes_model_and_reports_usage(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": PROMPT}],
        n=2,
        extra_headers={"x-mock-cached-tokens": "4", "x-mock-reasoning-tokens": "3"},
    )
    assert completion.object == "chat.completion"
    assert completion.model == "gpt-4o-mini"
    assert [c.index for c in completion.choices] == [0, 1]
    assert completion.choices[0].message.content == "Hello from the Wattgate mock"
    assert completion.choices[0].finish_reason == "stop"
    usage = completion.usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (10, 13, 23)
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 4
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 3


def test_chat_stream_without_include_usage_has_no_usage_field(base_url: str) -> None:
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": PROMPT}]}
    raw = httpx.post(f"{base_url}/v1/chat/completions", json=body).text
    events = raw.split("\n\n")
    assert raw.endswith("data: [DONE]\n\n")
    assert len(events) == 1 + 5 + 1 + 1 + 1  # role, words, finish, [DONE], trailing ""
    assert '"usage"' not in raw


def test_chat_stream_with_include_usage(client: openai.OpenAI) -> None:
    chunks = list(_chat(client, stream=True, stream_options={"include_usage": True}))
    *content, last = chunks
    assert all(c.usage is None and len(c.choices) == 1 for c in content)
    assert content[0].choices[0].delta.role == "assistant"
    assert content[-1].choices[0].finish_reason == "stop"
    text = "".join(c.choices[0].delta.content or "" for c in content)
    assert text == "Hello from the Wattgate mock"
    assert last.choices == []
    assert last.usage is not None and last.usage.completion_tokens == 5
    assert last.model == "gpt-4o-mini"


def test_no_usage_header_plays_an_old_server(client: openai.OpenAI, base_url: str) -> None:
    old = {"x-mock-no-usage": "1"}
    assert _chat(client, extra_headers=old).usage is None
    body = {"model": "m", "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": PROMPT}]}
    raw = httpx.post(f"{base_url}/v1/chat/completions", json=body, headers=old).text
    assert '"usage"' not in raw and raw.endswith("data: [DONE]\n\n")


def test_legacy_completions_plain_and_stream(client: openai.OpenAI) -> None:
    completion = client.completions.create(model="gpt-3.5-turbo-instruct", prompt=PROMPT)
    assert completion.object == "text_completion"
    assert completion.choices[0].text == "Hello from the Wattgate mock"
    assert completion.usage is not None and completion.usage.prompt_tokens == 10
    chunks = list(
        client.completions.create(
            model="m", prompt=PROMPT, stream=True, stream_options={"include_usage": True}
        )
    )
    assert "".join(c.choices[0].text for c in chunks[:-1]) == "Hello from the Wattgate mock"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 15


@pytest.mark.parametrize("encoding_format", ["float", None])
def test_embeddings(client: openai.OpenAI, base_url: str, encoding_format: str | None) -> None:
    """Without `encoding_format` the SDK asks for base64 and decodes it itself."""
    extra = {"encoding_format": encoding_format} if encoding_format else {}
    result = client.embeddings.create(
        model="text-embedding-3-small",
        input=["one two three four", "five"],
        **extra,  # type: ignore[arg-type]
    )
    sent = httpx.get(f"{base_url}/mock/last-request").json()["body"]
    assert sent["encoding_format"] == (encoding_format or "base64")
    assert [d.index for d in result.data] == [0, 1]
    assert len(result.data[0].embedding) == 8
    assert result.data[1].embedding[0] == pytest.approx(2 / 17, rel=1e-6)
    assert result.usage.prompt_tokens == 4 + 1
    assert result.model == "text-embedding-3-small"


def test_responses_plain(client: openai.OpenAI) -> None:
    response = client.responses.create(
        model="gpt-4.1", input=PROMPT, extra_headers={"x-mock-cached-tokens": "2"}
    )
    assert response.output_text == "Hello from the Wattgate mock"
    assert response.model == "gpt-4.1" and response.status == "completed"
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (10, 5)
    assert response.usage.input_tokens_details.cached_tokens == 2
    assert response.usage.output_tokens_details.reasoning_tokens == 0
    assert response.usage.total_tokens == 15


def test_responses_stream(client: openai.OpenAI) -> None:
    events = list(client.responses.create(model="gpt-4.1", input=PROMPT, stream=True))
    types = [e.type for e in events]
    assert types[:4] == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.content_part.added",
    ]
    assert types[4:9] == ["response.output_text.delta"] * 5
    assert types[9:] == [
        "response.output_text.done", "response.content_part.done",
        "response.output_item.done", "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    completed = events[-1]
    assert completed.type == "response.completed"
    assert completed.response.output_text == "Hello from the Wattgate mock"
    assert completed.response.usage is not None and completed.response.usage.output_tokens == 5


def test_models(client: openai.OpenAI) -> None:
    assert "mock-gpt" in [m.id for m in client.models.list()]
    assert client.models.retrieve("anything-at-all").id == "anything-at-all"


def test_anthropic_messages_plain(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(
        model="claude-3-5-haiku-latest",
        max_tokens=100,
        messages=[{"role": "user", "content": PROMPT}],
        extra_headers={"x-mock-cached-tokens": "6", "x-mock-cache-write-tokens": "1"},
    )
    assert message.content[0].type == "text"
    assert message.content[0].text == "Hello from the Wattgate mock"
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 10 - 6 - 1
    assert message.usage.cache_read_input_tokens == 6
    assert message.usage.cache_creation_input_tokens == 1
    assert message.usage.output_tokens == 5


def test_anthropic_messages_stream(claude: anthropic.Anthropic, base_url: str) -> None:
    request = {"model": "claude-3-5-haiku-latest", "max_tokens": 100,
               "messages": [{"role": "user", "content": PROMPT}]}
    events = list(claude.messages.create(**request, stream=True))  # type: ignore[call-overload]
    assert [e.type for e in events] == [
        "message_start", "content_block_start", *["content_block_delta"] * 5,
        "content_block_stop", "message_delta", "message_stop",
    ]  # the SDK drops `ping`, which is on the wire:
    raw = httpx.post(f"{base_url}/v1/messages", json={**request, "stream": True}).text
    assert "event: ping\n" in raw
    assert events[0].message.usage.output_tokens == 1
    assert events[-2].usage.output_tokens == 5
    with claude.messages.stream(**request) as stream:  # type: ignore[arg-type]
        final = stream.get_final_message()
    assert final.content[0].text == "Hello from the Wattgate mock"  # type: ignore[union-attr]
    assert (final.usage.input_tokens, final.usage.output_tokens) == (10, 5)


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, openai.BadRequestError), (429, openai.RateLimitError),
     (500, openai.InternalServerError), (503, openai.InternalServerError)],
)
def test_openai_errors(client: openai.OpenAI, status: int, error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        _chat(client, extra_headers={"x-mock-status": str(status)})
    assert caught.value.status_code == status  # type: ignore[attr-defined]
    assert caught.value.body["message"] == "mock failure"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("status", "error", "kind"),
    [(429, anthropic.RateLimitError, "rate_limit_error"),
     (529, anthropic.InternalServerError, "overloaded_error")],
)
def test_anthropic_errors(
    claude: anthropic.Anthropic, status: int, error: type[anthropic.APIStatusError], kind: str
) -> None:
    with pytest.raises(error) as caught:
        claude.messages.create(
            model="claude-3-5-haiku-latest", max_tokens=10,
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-mock-status": str(status)},
        )
    assert caught.value.status_code == status
    assert caught.value.body["error"]["type"] == kind  # type: ignore[index]


def test_unknown_path_bad_json_and_bad_header(base_url: str) -> None:
    missing = httpx.post(f"{base_url}/v1/nope", json={})
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "Invalid URL (POST /v1/nope)"
    bad = httpx.post(f"{base_url}/v1/chat/completions", content=b"{not json")
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"
    header = httpx.post(f"{base_url}/v1/chat/completions", json={}, headers={"x-mock-status": "x"})
    assert header.status_code == 400
    assert httpx.get(f"{base_url}/v1/chat/completions").status_code == 405


def test_disconnect_after_drops_the_connection_mid_stream(base_url: str) -> None:
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    with httpx.stream(
        "POST", f"{base_url}/v1/chat/completions", json=body,
        headers={"x-mock-disconnect-after": "3"},
    ) as response:
        received = []
        with pytest.raises(httpx.RemoteProtocolError):
            for line in response.iter_lines():
                received.append(line)
    assert len([line for line in received if line.startswith("data: ")]) == 3
    assert "data: [DONE]" not in received


def test_truncate_after_ends_the_stream_cleanly_but_early(base_url: str) -> None:
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    raw = httpx.post(
        f"{base_url}/v1/responses", json={**body, "input": "hi"},
        headers={"x-mock-truncate-after": "4"},
    ).text
    assert raw.count("event: ") == 4 and "response.completed" not in raw


def test_last_request_shows_what_was_forwarded(base_url: str) -> None:
    body = {"model": "m", "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "hi"}]}
    httpx.post(
        f"{base_url}/v1/chat/completions", json=body,
        headers={"authorization": "Bearer sk-upstream"},
    )
    last = httpx.get(f"{base_url}/mock/last-request").json()
    assert (last["method"], last["path"]) == ("POST", "/v1/chat/completions")
    assert last["headers"]["authorization"] == "Bearer sk-upstream"
    assert last["body"] == body


def test_latency_header_delays_the_response(client: openai.OpenAI) -> None:
    started = time.perf_counter()
    _chat(client, extra_headers={"x-mock-latency-ms": "150"})
    assert time.perf_counter() - started >= 0.15


def test_module_entry_point_serves() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    process = subprocess.Popen(
        [sys.executable, "-m", "proxy.mock_upstream", "--port", str(port), "--output-tokens", "2"],
        cwd=Path(__file__).parents[2],
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                reply = httpx.post(
                    f"http://127.0.0.1:{port}/v1/chat/completions",
                    json={"model": "m", "messages": []},
                )
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, "python -m proxy.mock_upstream did not start"
                time.sleep(0.05)
        assert reply.json()["usage"]["completion_tokens"] == 2
    finally:
        process.terminate()
        process.wait(10)
