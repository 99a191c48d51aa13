"""Streams keep the shapes the client asked for; impacts ride where the contract says."""

from __future__ import annotations

import time

import httpx
import openai
import orjson

from tests.integration.test_openai_sdk import client_for
from tests.servers import Gateway


def sse_payloads(text: str) -> list[dict | str]:
    out: list[dict | str] = []
    for line in text.splitlines():
        if line.startswith("data: "):
            data = line[6:]
            out.append(data if data == "[DONE]" else orjson.loads(data))
    return out


def stream_raw(url: str, key: str, body: dict) -> list[dict | str]:
    response = httpx.post(
        url + "/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"]
    return sse_payloads(response.text)


def shape(chunk: dict | str) -> object:
    if isinstance(chunk, str):
        return chunk
    return sorted(k for k in chunk if k != "impacts"), [sorted(c) for c in chunk["choices"]]


def test_stream_without_usage_has_upstream_shapes_and_impacts_on_finish_chunk(
    gateway: Gateway, mock_upstream: str
) -> None:
    key = gateway.create_team_key("search")
    body = {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    proxied = stream_raw(gateway.base_url, key, body)
    # the gateway asked the upstream for usage on the client's behalf
    seen = httpx.get(mock_upstream.removesuffix("/v1") + "/mock/last-request").json()
    assert seen["body"]["stream_options"] == {"include_usage": True}
    direct = stream_raw(mock_upstream, "x", body)
    assert [shape(c) for c in proxied] == [shape(c) for c in direct]
    chunks = [c for c in proxied if isinstance(c, dict)]
    assert all(c["choices"] for c in chunks), "no empty-choices chunk for a client that did not ask"
    assert all("usage" not in c for c in chunks)
    with_impacts = [c for c in chunks if "impacts" in c]
    assert len(with_impacts) == 1
    assert with_impacts[0]["choices"][0]["finish_reason"] == "stop"
    assert with_impacts[0]["impacts"]["usage"]["output_tokens"] == 20
    assert proxied[-1] == "[DONE]"


def test_stream_with_usage_carries_impacts_on_usage_chunk(
    gateway: Gateway, mock_upstream: str
) -> None:
    key = gateway.create_team_key("search")
    body = {
        "model": "gpt-4o",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "hi"}],
    }
    proxied = stream_raw(gateway.base_url, key, body)
    direct = stream_raw(mock_upstream, "x", body)
    assert [shape(c) for c in proxied] == [shape(c) for c in direct]
    usage_chunk = proxied[-2]
    assert isinstance(usage_chunk, dict) and usage_chunk["choices"] == []
    assert (
        usage_chunk["impacts"]["usage"]["output_tokens"]
        == usage_chunk["usage"]["completion_tokens"]
    )
    assert sum("impacts" in c for c in proxied if isinstance(c, dict)) == 1


def test_sdk_stream_without_usage(gateway: Gateway) -> None:
    client = client_for(gateway)
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini", stream=True, messages=[{"role": "user", "content": "hi"}]
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text
    assert all(c.usage is None for c in chunks)
    finish = [c for c in chunks if c.choices[0].finish_reason]
    assert finish[-1].impacts["energy_wh"]["value"] > 0


def test_sdk_stream_with_usage(gateway: Gateway) -> None:
    client = client_for(gateway)
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini",
            stream=True,
            stream_options={"include_usage": True},
            messages=[{"role": "user", "content": "hi"}],
        )
    )
    assert chunks[-1].usage.completion_tokens == 20
    assert chunks[-1].impacts["usage"]["output_tokens"] == 20


def test_completions_stream(gateway: Gateway) -> None:
    client = client_for(gateway)
    chunks = list(
        client.completions.create(model="gpt-3.5-turbo-instruct", prompt="hi", stream=True)
    )
    assert any(getattr(c, "impacts", None) for c in chunks)


def test_responses_stream_impacts_in_completed_event(gateway: Gateway) -> None:
    client = client_for(gateway)
    events = list(client.responses.create(model="gpt-4o", input="hi", stream=True))
    completed = [e for e in events if e.type == "response.completed"]
    assert len(completed) == 1
    response = completed[0].response
    assert response.impacts["usage"]["output_tokens"] == response.usage.output_tokens
    assert response.impacts["energy_wh"]["value"] > 0


def test_stream_from_server_without_usage_is_counted_locally(gateway: Gateway) -> None:
    client = client_for(gateway)
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o",
            stream=True,
            messages=[{"role": "user", "content": "hello there"}],
            extra_headers={"x-mock-no-usage": "1"},
        )
    )
    finish = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    impacts = finish[-1].impacts
    assert impacts["usage"]["source"] == "estimated"
    assert impacts["usage"]["output_tokens"] > 0
    assert impacts["usage"]["input_tokens"] > 0


def test_non_stream_without_usage_is_counted_locally(gateway: Gateway) -> None:
    client = client_for(gateway)
    completion = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "hello there"}],
        extra_headers={"x-mock-no-usage": "1"},
    )
    assert completion.impacts["usage"]["source"] == "estimated"
    assert completion.impacts["usage"]["output_tokens"] > 0


def test_upstream_cut_mid_stream_is_still_metered(gateway: Gateway) -> None:
    key = gateway.create_team_key("search")
    with httpx.stream(
        "POST",
        gateway.base_url + "/chat/completions",
        json={"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {key}", "x-mock-disconnect-after": "4"},
        timeout=10,
    ) as response:
        text = "".join(response.iter_text())
        request_id = response.headers["x-request-id"]
    assert "[DONE]" not in text
    gateway.wait_written()
    stored = httpx.get(
        gateway.base_url + f"/impacts/{request_id}", headers={"Authorization": f"Bearer {key}"}
    ).json()
    assert stored["impacts"]["usage"]["source"] == "estimated"
    assert stored["impacts"]["usage"]["output_tokens"] > 0


def test_stream_error_status_is_relayed(gateway: Gateway) -> None:
    client = client_for(gateway)
    try:
        list(
            client.chat.completions.create(
                model="gpt-4o",
                stream=True,
                messages=[{"role": "user", "content": "hi"}],
                extra_headers={"x-mock-status": "429"},
            )
        )
    except openai.RateLimitError as exc:
        assert exc.status_code == 429
    else:
        raise AssertionError("expected a 429")


def test_client_disconnect_mid_stream_is_metered_from_what_was_sent(
    gateway: Gateway, sqlite_url: str
) -> None:
    from tests.integration.test_usage_records import fetch_rows

    key = gateway.create_team_key("search")
    with httpx.stream(
        "POST",
        gateway.base_url + "/chat/completions",
        json={"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
        headers={
            "Authorization": f"Bearer {key}",
            "x-mock-chunk-delay-ms": "50",
            "x-mock-output-tokens": "40",
        },
        timeout=10,
    ) as response:
        lines = response.iter_lines()
        received = [next(lines) for _ in range(6)]  # a few events, then hang up
    assert any(line.startswith("data: ") for line in received)
    deadline = time.monotonic() + 10
    rows: list = []
    while time.monotonic() < deadline and not rows:
        gateway.wait_written()
        rows = fetch_rows(sqlite_url)
        time.sleep(0.1)
    (row,) = rows
    assert row["status_code"] == 499 and row["error_type"] == "client_disconnected"
    assert row["usage_source"] == "estimated"
    assert 0 < row["output_tokens"] < 40
    assert row["energy_wh"] > 0
