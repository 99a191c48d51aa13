"""The official openai SDK, pointed at Wattgate, against the mock upstream."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.servers import Gateway

IMPACT_HEADERS = (
    "x-energy-wh",
    "x-energy-wh-min",
    "x-energy-wh-max",
    "x-emissions-gco2e",
    "x-emissions-gco2e-min",
    "x-emissions-gco2e-max",
    "x-water-ml",
    "x-grid-zone",
    "x-grid-intensity-gco2e-per-kwh",
    "x-impact-method",
    "x-request-id",
)


def client_for(gateway: Gateway, team: str = "search") -> openai.OpenAI:
    return openai.OpenAI(
        base_url=gateway.base_url, api_key=gateway.create_team_key(team), max_retries=0, timeout=10
    )


def assert_impacts(impacts: dict, *, input_tokens: int, output_tokens: int) -> None:
    energy = impacts["energy_wh"]
    assert 0 < energy["min"] <= energy["value"] <= energy["max"]
    emissions = impacts["emissions_gco2e"]
    assert 0 < emissions["min"] <= emissions["value"] <= emissions["max"]
    assert impacts["water_ml"]["value"] > 0
    assert impacts["usage"]["input_tokens"] == input_tokens
    assert impacts["usage"]["output_tokens"] == output_tokens
    assert impacts["usage"]["source"] == "upstream"
    assert impacts["method"].startswith("wattgate")


def test_chat_completion_headers_and_body(gateway: Gateway) -> None:
    client = client_for(gateway)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Classify this email"}],
        extra_headers={"x-mock-output-tokens": "30", "x-mock-prompt-tokens": "12"},
    )
    for name in IMPACT_HEADERS:
        assert raw.headers.get(name), name
    completion = raw.parse()
    assert completion.choices[0].message.content
    assert completion.usage.completion_tokens == 30
    impacts = completion.impacts  # unknown fields are kept by the SDK
    assert_impacts(impacts, input_tokens=12, output_tokens=30)
    assert float(raw.headers["x-energy-wh"]) == pytest.approx(
        impacts["energy_wh"]["value"], rel=1e-3
    )
    assert raw.headers["x-grid-zone"] == impacts["grid"]["zone"]
    assert "e" not in raw.headers["x-energy-wh"].lower()  # plain decimal
    assert impacts["model"] == "openai/gpt-4o-mini"


def test_upstream_key_replaces_team_key(gateway: Gateway, mock_upstream: str) -> None:
    client = client_for(gateway)
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    seen = httpx.get(mock_upstream.removesuffix("/v1") + "/mock/last-request").json()
    headers = {k.lower(): v for k, v in seen["headers"].items()}
    assert headers["authorization"] == "Bearer sk-upstream-secret"


def test_bigger_prompt_costs_more_energy(gateway: Gateway) -> None:
    client = client_for(gateway)

    def energy(prompt_tokens: int) -> float:
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "x"}],
            extra_headers={"x-mock-prompt-tokens": str(prompt_tokens)},
        )
        return float(raw.headers["x-energy-wh"])

    assert energy(10_000) > energy(100)


def test_completions(gateway: Gateway) -> None:
    completion = client_for(gateway).completions.create(
        model="gpt-3.5-turbo-instruct", prompt="Say hi", max_tokens=5
    )
    assert completion.choices[0].text
    assert_impacts(
        completion.impacts,
        input_tokens=completion.usage.prompt_tokens,
        output_tokens=completion.usage.completion_tokens,
    )


def test_embeddings(gateway: Gateway) -> None:
    raw = client_for(gateway).embeddings.with_raw_response.create(
        model="text-embedding-3-small", input=["one", "two"]
    )
    result = raw.parse()
    assert len(result.data) == 2 and len(result.data[0].embedding) > 0
    assert float(raw.headers["x-energy-wh"]) > 0
    assert result.impacts["usage"]["input_tokens"] == result.usage.prompt_tokens
    assert result.impacts["usage"]["output_tokens"] == 0


def test_responses(gateway: Gateway) -> None:
    raw = client_for(gateway).responses.with_raw_response.create(
        model="gpt-4o", input="Write a haiku", extra_headers={"x-mock-reasoning-tokens": "7"}
    )
    response = raw.parse()
    assert response.output_text
    assert float(raw.headers["x-energy-wh"]) > 0
    impacts = response.impacts
    assert impacts["usage"]["output_tokens"] == response.usage.output_tokens
    assert impacts["usage"]["reasoning_tokens"] == 7


def test_models_pass_through(gateway: Gateway) -> None:
    models = client_for(gateway).models.list()
    assert len(models.data) > 0


def test_unknown_model_is_estimated_with_a_flagged_fallback(gateway: Gateway) -> None:
    completion = client_for(gateway).chat.completions.create(
        model="acme-llm-70b-chat", messages=[{"role": "user", "content": "hi"}]
    )
    assert completion.impacts["quality"] == "fallback"
    assert completion.impacts["warnings"]


def test_other_v1_paths_pass_through_unmetered_where_allowed(make_gateway) -> None:
    gateway = make_gateway(config="""
teams:
  - name: batch
    passthrough_paths: ["GET /v1/files*"]
  - search
""")
    allowed = gateway.create_team_key("batch")
    auth = {"Authorization": f"Bearer {allowed}"}
    response = httpx.get(gateway.base_url + "/files", headers=auth)
    assert response.status_code == 404  # the mock has no /files; the upstream's answer is relayed
    assert response.json()["error"]
    assert "x-energy-wh" not in response.headers
    assert response.headers["x-request-id"]


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/files"), ("POST", "/batches"), ("GET", "/fine_tuning/jobs"),
     ("GET", "/vector_stores"), ("GET", "/responses/resp_123"), ("DELETE", "/models/ft:x"),
     ("GET", "/chat/completions"), ("GET", "/messages/batches")],
)
def test_account_scoped_paths_are_closed_to_team_keys(
    gateway: Gateway, method: str, path: str
) -> None:
    key = gateway.create_team_key("search")
    response = httpx.request(
        method, gateway.base_url + path, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 403, response.text
    assert response.headers["x-request-id"]
    # the operator still reaches them with the master key
    admin = gateway.admin(method, "/v1" + path)
    assert admin.status_code != 403


def test_models_list_includes_configured_deployments(make_gateway, mock_upstream: str) -> None:
    gateway = make_gateway(config=f"""
models:
  - name: team-llama
    base_url: {mock_upstream}
    provider: vllm
""")
    client = client_for(gateway)
    ids = [m.id for m in client.models.list().data]
    assert "team-llama" in ids
    assert len(ids) == len(set(ids)) > 1  # the upstream's own models are still there
