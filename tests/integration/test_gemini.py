"""Gemini (Google AI Studio) deployments end to end: OpenAI SDK -> Wattgate -> litellm ->
a mock of the Gemini REST API on loopback, metered with Gemini's own usageMetadata."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator

import openai
import pytest

from tests.integration.conftest import GatewayFactory
from tests.mock_gemini import REPLY, WORDS, MockGemini
from tests.rows import fetch_rows
from tests.servers import Gateway, ServerThread

HI = [{"role": "user", "content": "hello"}]
# promptTokenCount 40 (12 of them cached), 9 candidate tokens, 7 thinking tokens.
USAGE = {"x-mock-prompt-tokens": "40", "x-mock-cached-tokens": "12",
         "x-mock-thoughts-tokens": "7"}
OUTPUT = len(WORDS) + 7  # OpenAI semantics: reasoning tokens are part of the output


@pytest.fixture(scope="module")
def gemini() -> Iterator[tuple[MockGemini, str]]:
    mock = MockGemini()
    server = ServerThread(mock).start()
    yield mock, server.url
    server.stop()


def gemini_gateway(make_gateway: GatewayFactory, base_url: str) -> Gateway:
    return make_gateway(config=textwrap.dedent(f"""
        models:
          - name: gemini-flash
            provider: gemini
            base_url: {base_url}
            upstream_model: gemini-2.0-flash
            api_key_env: HOUSE_GEMINI_KEY
            zone: gcp:europe-west4
    """), HOUSE_GEMINI_KEY="gm-house-key")


def client(gateway: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url, max_retries=0,
                         api_key=gateway.create_team_key("apps"))


@pytest.mark.parametrize("version_in_url", [False, True])
def test_openai_client_reaches_gemini(
    make_gateway: GatewayFactory, gemini: tuple[MockGemini, str], sqlite_url: str,
    version_in_url: bool,
) -> None:
    mock, root = gemini
    # Both forms reach /v1beta/models/...: a bare host gets litellm's API version added.
    gateway = gemini_gateway(make_gateway, root + "/v1beta/" if version_in_url else root)
    sdk = client(gateway)
    mock.requests.clear()

    raw = sdk.chat.completions.with_raw_response.create(model="gemini-flash", messages=HI,
                                                        extra_headers=USAGE)
    completion = raw.parse()
    seen = mock.requests[-1]
    assert seen.path == "/v1beta/models/gemini-2.0-flash:generateContent"
    assert seen.headers["x-goog-api-key"] == "gm-house-key"
    assert seen.body["contents"] == [{"role": "user", "parts": [{"text": "hello"}]}]
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == REPLY
    assert completion.choices[0].finish_reason == "stop"
    usage = completion.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (40, OUTPUT,
                                                                                 40 + OUTPUT)
    assert usage.prompt_tokens_details.cached_tokens == 12
    assert usage.completion_tokens_details.reasoning_tokens == 7
    impacts = completion.impacts
    assert impacts["usage"] == {**impacts["usage"], "input_tokens": 40,
                                "cached_input_tokens": 12, "output_tokens": OUTPUT}
    assert raw.headers["x-energy-wh"] and float(raw.headers["x-energy-wh"]) > 0
    assert float(raw.headers["x-energy-wh"]) == pytest.approx(impacts["energy_wh"]["value"],
                                                              rel=1e-3)
    assert raw.headers["x-wattgate-deployment"] == "gemini-flash"
    # litellm's empty Gemini extras (grounding, safety, citations...) are not passed on.
    assert not [k for k in completion.model_extra if k.startswith("vertex_ai_")]
    assert "images" not in (completion.choices[0].message.model_extra or {})

    chunks = list(sdk.chat.completions.create(model="gemini-flash", messages=HI, stream=True,
                                              extra_headers=USAGE))
    seen = mock.requests[-1]
    assert seen.path == "/v1beta/models/gemini-2.0-flash:streamGenerateContent"
    assert seen.query == "alt=sse"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == REPLY
    assert all(c.usage is None and c.choices for c in chunks)  # usage was not asked for
    finish = [c for c in chunks if c.choices[0].finish_reason]
    assert len(finish) == 1 and finish[0].choices[0].finish_reason == "stop"
    assert finish[0].impacts["usage"]["output_tokens"] == OUTPUT

    with_usage = list(sdk.chat.completions.create(
        model="gemini-flash", messages=HI, stream=True, stream_options={"include_usage": True},
        extra_headers=USAGE))
    last = with_usage[-1]
    assert last.choices == [] and last.impacts
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (40, OUTPUT)
    assert last.usage.prompt_tokens_details.cached_tokens == 12
    assert last.usage.completion_tokens_details.reasoning_tokens == 7
    assert "".join(c.choices[0].delta.content or "" for c in with_usage if c.choices) == REPLY

    gateway.wait_written()
    rows = fetch_rows(sqlite_url, 3)
    assert [(r["stream"], r["input_tokens"], r["cached_input_tokens"], r["output_tokens"],
             r["reasoning_tokens"]) for r in rows] == [
        (False, 40, 12, OUTPUT, 7), (True, 40, 12, OUTPUT, 7), (True, 40, 12, OUTPUT, 7)]
    assert all(r["provider"] == "gemini" and r["status_code"] == 200
               and r["usage_source"] == "upstream" and r["deployment"] == "gemini-flash"
               and r["grid_zone"] == impacts["grid"]["zone"] and r["energy_wh"] > 0
               for r in rows)
    assert rows[0]["energy_wh"] == pytest.approx(impacts["energy_wh"]["value"], rel=1e-4)


@pytest.mark.parametrize(("status", "error"), [(429, openai.RateLimitError),
                                               (500, openai.InternalServerError)])
def test_gemini_error_keeps_its_status(
    make_gateway: GatewayFactory, gemini: tuple[MockGemini, str], sqlite_url: str,
    status: int, error: type[openai.APIStatusError],
) -> None:
    gateway = gemini_gateway(make_gateway, gemini[1])
    sdk = client(gateway)
    failing = {"x-mock-status": str(status)}
    with pytest.raises(error) as plain:
        sdk.chat.completions.create(model="gemini-flash", messages=HI, extra_headers=failing)
    with pytest.raises(error) as streamed:
        list(sdk.chat.completions.create(model="gemini-flash", messages=HI, stream=True,
                                         extra_headers=failing))
    for failed in (plain, streamed):
        assert failed.value.status_code == status
        assert f"mock error {status}" in failed.value.message
        assert failed.value.body["code"] == f"upstream_{status}"
    gateway.wait_written()
    rows = fetch_rows(sqlite_url, 2)
    assert [(r["stream"], r["status_code"], r["provider"], r["output_tokens"], r["energy_wh"])
            for r in rows] == [(False, status, "gemini", 0, 0), (True, status, "gemini", 0, 0)]


def test_failing_gemini_stream_falls_back(
    make_gateway: GatewayFactory, gemini: tuple[MockGemini, str], mock_upstream: str,
    sqlite_url: str,
) -> None:
    # The Gemini request is only sent when litellm is asked for the first chunk; the 429
    # must still come before the client's first byte, so the chain can move on.
    gateway = make_gateway(config=textwrap.dedent(f"""
        models:
          - name: smart
            provider: gemini
            base_url: {gemini[1]}
            upstream_model: gemini-2.0-flash
            api_key_env: HOUSE_GEMINI_KEY
            headers: {{x-mock-status: "429"}}
          - name: smart
            base_url: {mock_upstream}
            upstream_model: gpt-4o-mini
    """), HOUSE_GEMINI_KEY="gm-house-key")
    chunks = list(client(gateway).chat.completions.create(model="smart", messages=HI,
                                                          stream=True))
    assert chunks[-1].impacts and chunks[-1].model.startswith("gpt-4o-mini")
    gateway.wait_written()
    rows = fetch_rows(sqlite_url, 2)
    assert [(r["provider"], r["attempt"], r["status_code"]) for r in rows] == [
        ("gemini", 0, 429), ("openai", 1, 200)]
