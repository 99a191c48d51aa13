"""Anthropic SDK clients reaching OpenAI-format upstreams through `/v1/messages`.

The gateway translates the Messages request into a chat completion for the shared mock's
`/v1/chat/completions`, and the answer (Message, event stream or error) back.
"""

from __future__ import annotations

import textwrap
import time
from typing import Any

import anthropic
import httpx
import pytest

from proxy.mock_upstream.content import words
from tests.integration.conftest import GatewayFactory
from tests.integration.test_usage_records import fetch_rows as _fetch_rows
from tests.servers import Gateway

USAGE = {"x-mock-prompt-tokens": "50", "x-mock-cached-tokens": "10",
         "x-mock-output-tokens": "6"}
HI = [{"role": "user", "content": "hello"}]


def fetch_rows(database_url: str, n: int) -> list[dict[str, Any]]:
    """Rows once `n` are there (a stream's row is recorded just after its last byte)."""
    deadline = time.monotonic() + 5
    while True:
        rows = _fetch_rows(database_url)
        if len(rows) >= n or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def config(mock_upstream: str) -> str:
    return textwrap.dedent(f"""
        models:
          - name: gpt-4o-mini
            base_url: {mock_upstream}
            api_key_env: HOUSE_OPENAI_KEY
          - name: house-llama
            provider: vllm
            base_url: {mock_upstream}
            upstream_model: meta-llama/Llama-3.1-8B-Instruct
    """)


@pytest.fixture
def gateway(make_gateway: GatewayFactory, mock_upstream: str) -> Gateway:
    return make_gateway(config=config(mock_upstream), HOUSE_OPENAI_KEY="sk-openai-house",
                        WATTGATE_ANTHROPIC_BASE_URL="http://127.0.0.1:9")  # never reached


def client_for(gateway: Gateway, key: str | None = None) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, max_retries=0,
                               api_key=key or gateway.create_team_key("agents"))


def last_upstream_request(mock_upstream: str) -> dict[str, Any]:
    return httpx.get(mock_upstream.removesuffix("/v1") + "/mock/last-request").json()


def test_plain_message(gateway: Gateway, mock_upstream: str, sqlite_url: str) -> None:
    raw = client_for(gateway).messages.with_raw_response.create(
        model="gpt-4o-mini", max_tokens=64, system="Be brief.", stop_sequences=["END"],
        messages=HI, extra_headers=USAGE, extra_body={"temperature": 0.2},
    )
    message = raw.parse()
    assert message.type == "message" and message.role == "assistant"
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == "".join(words(6))  # what the mock's completion said
    assert message.model == "gpt-4o-mini" and message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens,
            message.usage.output_tokens) == (40, 10, 6)
    impacts = message.model_extra["impacts"]
    assert impacts["usage"] == {**impacts["usage"], "input_tokens": 50,
                                "cached_input_tokens": 10, "output_tokens": 6,
                                "source": "upstream"}
    assert float(raw.headers["x-energy-wh"]) == pytest.approx(impacts["energy_wh"]["value"],
                                                                rel=1e-3)
    assert raw.headers["content-type"].startswith("application/json")
    assert raw.headers["x-wattgate-deployment"] == "gpt-4o-mini"

    seen = last_upstream_request(mock_upstream)
    assert seen["path"] == "/v1/chat/completions"
    assert seen["body"] == {
        "model": "gpt-4o-mini", "max_tokens": 64, "temperature": 0.2, "stop": ["END"],
        "messages": [{"role": "system", "content": "Be brief."},
                     {"role": "user", "content": "hello"}],
    }
    assert seen["headers"]["authorization"] == "Bearer sk-openai-house"  # never the team key
    assert not any(h.startswith("anthropic-") or h == "x-api-key" for h in seen["headers"])

    gateway.wait_written()
    [row] = fetch_rows(sqlite_url, 1)
    assert row["endpoint"] == "messages" and row["provider"] == "openai"
    assert row["team"] == "agents" and row["status_code"] == 200 and not row["stream"]
    assert (row["input_tokens"], row["cached_input_tokens"], row["output_tokens"]) == (50, 10, 6)
    assert row["usage_source"] == "upstream" and row["energy_wh"] > 0


def test_stream(gateway: Gateway, mock_upstream: str, sqlite_url: str) -> None:
    client = client_for(gateway)
    with client.messages.stream(model="house-llama", max_tokens=64, system="Be brief.",
                                messages=HI, extra_headers=USAGE) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "".join(words(6)) == final.content[0].text
    assert (final.usage.input_tokens, final.usage.cache_read_input_tokens,
            final.usage.output_tokens) == (40, 10, 6)
    assert final.model == "meta-llama/Llama-3.1-8B-Instruct"
    seen = last_upstream_request(mock_upstream)["body"]
    assert seen["model"] == "meta-llama/Llama-3.1-8B-Instruct"
    assert seen["stream"] is True and seen["stream_options"] == {"include_usage": True}
    assert seen["messages"][0] == {"role": "system", "content": "Be brief."}

    events = list(client.messages.create(model="house-llama", max_tokens=64, messages=HI,
                                         stream=True, extra_headers=USAGE))
    kinds = [e.type for e in events]  # the SDK drops `ping`
    assert kinds[:2] == ["message_start", "content_block_start"]
    assert kinds[2:-3] == ["content_block_delta"] * 6
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    delta = events[-2]
    assert delta.delta.stop_reason == "end_turn" and delta.usage.output_tokens == 6
    impacts = delta.model_extra["impacts"]
    assert impacts["usage"] == {**impacts["usage"], "input_tokens": 50,
                                "cached_input_tokens": 10, "output_tokens": 6}

    with httpx.stream("POST", gateway.url + "/v1/messages",
                      headers={"x-api-key": gateway.create_team_key("agents"), **USAGE},
                      json={"model": "house-llama", "max_tokens": 8, "stream": True,
                            "messages": HI}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        body = response.read().decode()
    names = [line[7:] for line in body.splitlines() if line.startswith("event: ")]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]

    gateway.wait_written()
    rows = fetch_rows(sqlite_url, 3)
    assert [(r["endpoint"], r["stream"], r["provider"], r["input_tokens"], r["output_tokens"],
             r["usage_source"]) for r in rows] == [
        ("messages", True, "vllm", 50, 6, "upstream")] * 3
    assert rows[1]["energy_wh"] == pytest.approx(impacts["energy_wh"]["value"], rel=1e-4)
    assert all(r["ttft_s"] for r in rows)


def test_stream_without_usage_is_counted_locally(gateway: Gateway, sqlite_url: str) -> None:
    events = list(client_for(gateway).messages.create(
        model="gpt-4o-mini", max_tokens=64, messages=HI, stream=True,
        extra_headers={"x-mock-no-usage": "1", "x-mock-output-tokens": "5"}))
    delta = events[-2]
    assert delta.type == "message_delta" and delta.usage.output_tokens > 0
    assert delta.model_extra["impacts"]["usage"]["source"] == "estimated"
    gateway.wait_written()
    [row] = fetch_rows(sqlite_url, 1)
    assert row["usage_source"] == "estimated" and row["output_tokens"] > 0


def test_plain_message_without_usage(gateway: Gateway, sqlite_url: str) -> None:
    message = client_for(gateway).messages.create(
        model="gpt-4o-mini", max_tokens=64, messages=HI, extra_headers={"x-mock-no-usage": "1"})
    assert message.usage.output_tokens > 0 and message.usage.input_tokens > 0
    assert message.model_extra["impacts"]["usage"]["source"] == "estimated"


@pytest.mark.parametrize(("status", "error"), [
    (429, anthropic.RateLimitError), (500, anthropic.InternalServerError),
    (400, anthropic.BadRequestError),
])
def test_upstream_errors_in_anthropic_shape(gateway: Gateway, sqlite_url: str, status: int,
                                            error: type[anthropic.APIStatusError]) -> None:
    client = client_for(gateway)
    for stream in (False, True):
        with pytest.raises(error) as caught:
            client.messages.create(model="gpt-4o-mini", max_tokens=8, messages=HI,
                                   stream=stream, extra_headers={"x-mock-status": str(status)})
        assert caught.value.status_code == status
        assert caught.value.body["type"] == "error"
        assert caught.value.body["error"]["message"] == "mock failure"
    gateway.wait_written()
    rows = fetch_rows(sqlite_url, 2)
    assert [(r["endpoint"], r["status_code"]) for r in rows] == [("messages", status)] * 2


def test_untranslatable_request_is_a_400(gateway: Gateway) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        client_for(gateway).messages.create(
            model="gpt-4o-mini", max_tokens=8, messages=HI,
            tools=[{"type": "web_search_20250305", "name": "web_search"}])
    assert caught.value.body["error"]["type"] == "invalid_request_error"
    assert "tools[0]" in caught.value.body["error"]["message"]


def test_usage_rows_on_every_database(make_gateway: GatewayFactory, mock_upstream: str,
                                      db_url: str) -> None:
    gateway = make_gateway(database_url=db_url, config=config(mock_upstream),
                           HOUSE_OPENAI_KEY="sk-openai-house")
    client = client_for(gateway)
    client.messages.create(model="gpt-4o-mini", max_tokens=8, messages=HI, extra_headers=USAGE)
    with client.messages.stream(model="gpt-4o-mini", max_tokens=8, messages=HI,
                                extra_headers=USAGE) as stream:
        stream.get_final_message()
    gateway.wait_written()
    rows = fetch_rows(db_url, 2)
    assert [(r["endpoint"], r["stream"], r["input_tokens"], r["cached_input_tokens"],
             r["output_tokens"], r["deployment"]) for r in rows] == [
        ("messages", False, 50, 10, 6, "gpt-4o-mini"), ("messages", True, 50, 10, 6, "gpt-4o-mini")]
    assert all(r["energy_wh"] > 0 and r["requested_model"] == "gpt-4o-mini" for r in rows)


def test_open_mode_forwards_the_callers_key(make_gateway: GatewayFactory,
                                            mock_upstream: str) -> None:
    gateway = make_gateway(master_key=None, config=config(mock_upstream),
                           HOUSE_OPENAI_KEY="sk-openai-house")
    message = client_for(gateway, "sk-callers-own").messages.create(
        model="house-llama", max_tokens=8, messages=HI)
    assert "impacts" in message.model_extra
    seen = last_upstream_request(mock_upstream)
    assert seen["headers"]["authorization"] == "Bearer sk-callers-own"


def test_stream_cut_short_ends_with_an_error_event(gateway: Gateway, sqlite_url: str) -> None:
    with httpx.stream("POST", gateway.url + "/v1/messages",
                      headers={"x-api-key": gateway.create_team_key("agents"),
                               "x-mock-disconnect-after": "4"},
                      json={"model": "gpt-4o-mini", "max_tokens": 8, "stream": True,
                            "messages": HI}) as response:
        body = response.read().decode()
    names = [line[7:] for line in body.splitlines() if line.startswith("event: ")]
    assert names[0] == "message_start" and names[-1] == "error"
    assert "message_stop" not in names and '"type":"api_error"' in body
    gateway.wait_written()
    [row] = fetch_rows(sqlite_url, 1)
    assert row["error_type"] == "upstream_stream_error" and row["usage_source"] == "estimated"


def test_mixed_fallback_chain(make_gateway: GatewayFactory, mock_upstream: str,
                              sqlite_url: str) -> None:
    """An Anthropic deployment that is down, then an OpenAI-compatible one."""
    gateway = make_gateway(config=textwrap.dedent(f"""
        models:
          - name: house
            id: claude-primary
            provider: anthropic
            base_url: http://127.0.0.1:9
          - name: house
            id: local-llama
            provider: vllm
            base_url: {mock_upstream}
            upstream_model: meta-llama/Llama-3.1-8B-Instruct
    """))
    raw = client_for(gateway).messages.with_raw_response.create(
        model="house", max_tokens=8, messages=HI, extra_headers=USAGE)
    assert raw.parse().usage.output_tokens == 6
    assert raw.headers["x-wattgate-deployment"] == "local-llama"
    assert raw.headers["x-wattgate-attempts"] == "2"
    gateway.wait_written()
    rows = fetch_rows(sqlite_url, 2)
    assert [(r["deployment"], r["attempt"], r["status_code"]) for r in rows] == [
        ("claude-primary", 0, 502), ("local-llama", 1, 200)]
