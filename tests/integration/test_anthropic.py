"""Anthropic's Messages API through the gateway, driven by the official `anthropic` SDK.

The shared mock speaks the real Messages wire format (a Message, or its event stream with
`message_start` ... `message_delta` ... `message_stop`) at `/v1/messages`.
"""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import pytest

from tests.integration.conftest import GatewayFactory
from tests.rows import fetch_rows
from tests.servers import Gateway

CACHE = {"x-mock-prompt-tokens": "50", "x-mock-cached-tokens": "10",
         "x-mock-cache-write-tokens": "5"}


def mock_root(mock_upstream: str) -> str:
    return mock_upstream.removesuffix("/v1")


@pytest.fixture
def anthropic_gateway(make_gateway: GatewayFactory, mock_upstream: str) -> Gateway:
    return make_gateway(WATTGATE_ANTHROPIC_BASE_URL=mock_root(mock_upstream),
                        ANTHROPIC_API_KEY="sk-ant-upstream")


def client_for(gateway: Gateway, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0)


def last_upstream_request(mock_upstream: str) -> dict[str, Any]:
    return httpx.get(mock_root(mock_upstream) + "/mock/last-request").json()


def test_plain_message_is_metered(anthropic_gateway: Gateway, mock_upstream: str,
                                  sqlite_url: str) -> None:
    client = client_for(anthropic_gateway, anthropic_gateway.create_team_key("claude-team"))
    raw = client.messages.with_raw_response.create(
        model="claude-3-5-haiku-latest", max_tokens=64,
        messages=[{"role": "user", "content": "hello"}],
        extra_headers={**CACHE, "anthropic-beta": "prompt-caching-2024-07-31"},
    )
    message = raw.parse()
    assert message.type == "message" and message.content[0].type == "text"
    assert message.usage.cache_read_input_tokens == 10
    impacts = message.model_extra["impacts"]  # the SDK keeps unknown fields
    assert impacts["usage"]["input_tokens"] == 50
    assert impacts["usage"]["cached_input_tokens"] == 10
    assert float(raw.headers["x-energy-wh"]) == pytest.approx(impacts["energy_wh"]["value"],
                                                                rel=1e-3)
    assert raw.headers["x-wattgate-attempts"] == "1"

    seen = last_upstream_request(mock_upstream)
    assert seen["path"] == "/v1/messages"
    assert seen["headers"]["x-api-key"] == "sk-ant-upstream"  # never the team key
    assert "authorization" not in seen["headers"]
    assert seen["headers"]["anthropic-version"]
    assert seen["headers"]["anthropic-beta"] == "prompt-caching-2024-07-31"

    anthropic_gateway.wait_written()
    [row] = fetch_rows(sqlite_url, 1)
    assert row["endpoint"] == "messages" and row["provider"] == "anthropic"
    assert row["team"] == "claude-team" and row["status_code"] == 200
    assert (row["input_tokens"], row["cached_input_tokens"], row["output_tokens"]) == (50, 10, 20)
    assert row["usage_source"] == "upstream" and row["energy_wh"] > 0


def test_stream_carries_impacts_in_final_message_delta(
    anthropic_gateway: Gateway, sqlite_url: str
) -> None:
    client = client_for(anthropic_gateway, anthropic_gateway.create_team_key("claude-team"))
    events = list(client.messages.create(
        model="claude-3-5-haiku-latest", max_tokens=64, stream=True,
        messages=[{"role": "user", "content": "hello"}],
        extra_headers={**CACHE, "x-mock-output-tokens": "7"},
    ))
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    assert sum(e.type == "content_block_delta" for e in events) == 7
    delta = events[-2]
    assert delta.usage.output_tokens == 7
    impacts = delta.model_extra["impacts"]
    assert impacts["usage"] == {**impacts["usage"], "input_tokens": 50,
                                "output_tokens": 7, "cached_input_tokens": 10}

    # The SDK's stream helper assembles the same message.
    with client.messages.stream(
        model="claude-3-5-haiku-latest", max_tokens=64,
        messages=[{"role": "user", "content": "again"}], extra_headers=CACHE,
    ) as stream:
        final = stream.get_final_message()
    assert final.usage.output_tokens == 20

    anthropic_gateway.wait_written()
    rows = fetch_rows(sqlite_url, 2)
    assert [(r["stream"], r["input_tokens"], r["output_tokens"]) for r in rows] == [
        (True, 50, 7), (True, 50, 20)]
    assert rows[0]["energy_wh"] == pytest.approx(impacts["energy_wh"]["value"], rel=1e-4)
    assert all(r["usage_source"] == "upstream" and r["ttft_s"] for r in rows)


def test_stream_without_usage_is_counted_locally(anthropic_gateway: Gateway,
                                                 sqlite_url: str) -> None:
    client = client_for(anthropic_gateway, anthropic_gateway.create_team_key("claude-team"))
    events = list(client.messages.create(
        model="claude-3-5-haiku-latest", max_tokens=64, stream=True,
        messages=[{"role": "user", "content": "hello"}], extra_headers={"x-mock-no-usage": "1"},
    ))
    assert events[-2].model_extra["impacts"]["usage"]["source"] == "estimated"
    anthropic_gateway.wait_written()
    [row] = fetch_rows(sqlite_url, 1)
    assert row["usage_source"] == "estimated" and row["output_tokens"] > 0


def test_errors_keep_anthropic_shape(anthropic_gateway: Gateway) -> None:
    with pytest.raises(anthropic.AuthenticationError) as auth:
        client_for(anthropic_gateway, "wrong-key").messages.create(
            model="claude-3-5-haiku-latest", max_tokens=8,
            messages=[{"role": "user", "content": "hi"}])
    assert auth.value.body["type"] == "error"
    assert auth.value.body["error"]["type"] == "authentication_error"

    client = client_for(anthropic_gateway, anthropic_gateway.create_team_key("t"))
    with pytest.raises(anthropic.RateLimitError) as limited:  # upstream error, relayed as is
        client.messages.create(model="claude-3-5-haiku-latest", max_tokens=8,
                               messages=[{"role": "user", "content": "hi"}],
                               extra_headers={"x-mock-status": "429"})
    assert limited.value.body["error"] == {"type": "rate_limit_error", "message": "mock failure"}


def test_stream_cut_short_ends_with_an_error_event(anthropic_gateway: Gateway,
                                                   sqlite_url: str) -> None:
    key = anthropic_gateway.create_team_key("t")
    with httpx.stream(
        "POST", anthropic_gateway.url + "/v1/messages",
        headers={"x-api-key": key, "anthropic-version": "2023-06-01",
                 "x-mock-disconnect-after": "4"},
        json={"model": "claude-3-5-haiku-latest", "max_tokens": 8, "stream": True,
              "messages": [{"role": "user", "content": "hi"}]},
    ) as response:
        body = response.read().decode()
    assert "event: error" in body and '"type":"api_error"' in body
    anthropic_gateway.wait_written()
    [row] = fetch_rows(sqlite_url, 1)
    assert row["error_type"] == "upstream_stream_error" and row["usage_source"] == "upstream"


def test_open_mode_forwards_the_callers_key(make_gateway: GatewayFactory,
                                            mock_upstream: str) -> None:
    gateway = make_gateway(master_key=None, WATTGATE_ANTHROPIC_BASE_URL=mock_root(mock_upstream))
    message = client_for(gateway, "sk-ant-callers-own").messages.create(
        model="claude-3-5-haiku-latest", max_tokens=8,
        messages=[{"role": "user", "content": "hi"}])
    assert "impacts" in message.model_extra
    seen = last_upstream_request(mock_upstream)["headers"]
    # the caller's own credential goes up as its SDK sent it (Bearer, or x-api-key)
    assert (seen.get("authorization") == "Bearer sk-ant-callers-own"
            or seen.get("x-api-key") == "sk-ant-callers-own")
    assert seen["anthropic-version"]


def test_other_messages_paths_pass_through(anthropic_gateway: Gateway, mock_upstream: str) -> None:
    key = anthropic_gateway.create_team_key("t")
    response = httpx.post(anthropic_gateway.url + "/v1/messages/count_tokens",
                          headers={"x-api-key": key}, json={"model": "claude-3-5-haiku-latest"})
    assert response.status_code == 404  # the mock has no such route; the request got there
    seen = last_upstream_request(mock_upstream)
    assert seen["path"] == "/v1/messages/count_tokens"
    assert seen["headers"]["x-api-key"] == "sk-ant-upstream"
