"""Deployments: translated providers (litellm), self-hosted servers, retries and fallbacks."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import openai
import pytest

from tests.integration.conftest import GatewayFactory
from tests.integration.test_usage_records import metric_samples
from tests.rows import fetch_rows
from tests.servers import free_port

HI = [{"role": "user", "content": "hello"}]
CACHE = {"x-mock-prompt-tokens": "50", "x-mock-cached-tokens": "10",
         "x-mock-cache-write-tokens": "5"}


def client(gateway, key: str | None = None) -> openai.OpenAI:  # type: ignore[no-untyped-def]
    return openai.OpenAI(base_url=gateway.base_url, max_retries=0,
                         api_key=key or gateway.create_team_key("apps"))


# --- translation (OpenAI SDK -> Anthropic upstream) -------------------------------------


@pytest.mark.parametrize("configured", [False, True])
def test_openai_client_reaches_anthropic(
    make_gateway: GatewayFactory, mock_upstream: str, sqlite_url: str, configured: bool
) -> None:
    root = mock_upstream.removesuffix("/v1")
    if configured:  # a config deployment with provider: anthropic
        model = "house-claude"
        gateway = make_gateway(config=textwrap.dedent(f"""
            models:
              - name: house-claude
                provider: anthropic
                base_url: {root}
                upstream_model: claude-3-5-haiku-latest
                api_key_env: HOUSE_ANTHROPIC_KEY
        """), HOUSE_ANTHROPIC_KEY="sk-ant-house")
    else:  # no config: claude-* goes to the default Anthropic upstream
        model = "claude-3-5-haiku-latest"
        gateway = make_gateway(WATTGATE_ANTHROPIC_BASE_URL=root, ANTHROPIC_API_KEY="sk-ant")
    sdk = client(gateway)

    raw = sdk.chat.completions.with_raw_response.create(model=model, messages=HI,
                                                        extra_headers=CACHE)
    completion = raw.parse()
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content.startswith("Hello")
    assert completion.usage.prompt_tokens == 50
    assert completion.usage.prompt_tokens_details.cached_tokens == 10
    assert completion.impacts["usage"]["input_tokens"] == 50
    assert float(raw.headers["x-energy-wh"]) > 0

    chunks = list(sdk.chat.completions.create(model=model, messages=HI, stream=True,
                                              extra_headers={**CACHE, "x-mock-output-tokens": "5"}))
    assert all(c.usage is None for c in chunks)  # the client did not ask for usage
    assert all(c.choices for c in chunks)  # ...so no usage chunk reaches it
    finish = [c for c in chunks if c.choices[0].finish_reason]
    assert len(finish) == 1 and finish[0].impacts["usage"]["output_tokens"] == 5

    with_usage = list(sdk.chat.completions.create(
        model=model, messages=HI, stream=True, stream_options={"include_usage": True}))
    assert with_usage[-1].usage.completion_tokens == 20 and with_usage[-1].impacts

    gateway.wait_written()
    rows = fetch_rows(sqlite_url, 3)
    assert [(r["stream"], r["input_tokens"], r["cached_input_tokens"], r["output_tokens"])
            for r in rows][:2] == [(False, 50, 10, 20), (True, 50, 10, 5)]
    assert all(r["provider"] == "anthropic" and r["status_code"] == 200
               and r["usage_source"] == "upstream" for r in rows)
    assert rows[0]["energy_wh"] == pytest.approx(completion.impacts["energy_wh"]["value"],
                                                 rel=1e-4)


def test_translated_upstream_error_keeps_its_status(make_gateway: GatewayFactory,
                                                    mock_upstream: str) -> None:
    gateway = make_gateway(WATTGATE_ANTHROPIC_BASE_URL=mock_upstream.removesuffix("/v1"),
                           ANTHROPIC_API_KEY="sk-ant")
    with pytest.raises(openai.RateLimitError):
        client(gateway).chat.completions.create(
            model="claude-3-5-haiku-latest", messages=HI, extra_headers={"x-mock-status": "429"})


def test_openai_only_traffic_never_imports_litellm(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import sys
        import openai
        from proxy.mock_upstream import MockOptions, create_mock_app
        from tests.servers import ServerThread, start_gateway
        mock = ServerThread(create_mock_app(MockOptions())).start()
        gw = start_gateway({{
            "WATTGATE_DATABASE_URL": "sqlite+aiosqlite:///{tmp_path}/db.sqlite",
            "WATTGATE_SPOOL_PATH": "{tmp_path}/spool.jsonl",
            "WATTGATE_UPSTREAM_BASE_URL": mock.url + "/v1",
        }})
        sdk = openai.OpenAI(base_url=gw.base_url, api_key="sk-x", max_retries=0)
        hi = [{{"role": "user", "content": "x"}}]
        sdk.chat.completions.create(model="gpt-4o-mini", messages=hi)
        list(sdk.chat.completions.create(model="gpt-4o-mini", stream=True,
                                         messages=[{{"role": "user", "content": "x"}}]))
        sdk.embeddings.create(model="text-embedding-3-small", input="x")
        gw.stop(); mock.stop()
        print("litellm" in sys.modules)
    """)
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False"


# --- self-hosted OpenAI-compatible servers ----------------------------------------------


def test_self_hosted_deployment_uses_its_estimate_overrides(
    make_gateway: GatewayFactory, mock_upstream: str, sqlite_url: str
) -> None:
    gateway = make_gateway(config=textwrap.dedent(f"""
        models:
          - name: llama-local
            provider: vllm
            base_url: {mock_upstream}
            upstream_model: meta-llama/Llama-3.1-8B-Instruct
            estimate:
              gpu: A100
              gpu_count: 1
              batch_size: 16
              zone: FRA
              measured_wh_per_output_token: 0.002
    """))
    raw = client(gateway).chat.completions.with_raw_response.create(
        model="llama-local", messages=HI, extra_headers={"x-mock-output-tokens": "100"})
    impacts = raw.parse().impacts
    assert raw.headers["x-wattgate-deployment"] == "llama-local"
    assert raw.headers["x-grid-zone"] == "FRA" and impacts["grid"]["zone"] == "FRA"
    assert impacts["quality"] == "measured"
    # 100 output tokens at 0.002 Wh each, before PUE: at least 0.2 Wh at the meter.
    assert impacts["energy_wh"]["value"] >= 0.2
    gateway.wait_written()
    [row] = fetch_rows(sqlite_url, 1)
    assert row["provider"] == "vllm" and row["quality"] == "measured"
    assert row["grid_zone"] == "FRA"


# --- retries and fallbacks ---------------------------------------------------------------


def chain_config(first: str, second: str, *, first_extra: str = "") -> str:
    return textwrap.dedent("""
        models:
          - name: team-model
            id: primary
            base_url: {first}
            {first_extra}
          - name: team-model
            id: backup
            base_url: {second}
    """).format(first=first, second=second, first_extra=first_extra)


def test_unreachable_deployment_falls_back(make_gateway: GatewayFactory, mock_upstream: str,
                                           sqlite_url: str) -> None:
    down = f"http://127.0.0.1:{free_port()}/v1"
    gateway = make_gateway(config=chain_config(down, mock_upstream))
    sdk = client(gateway)
    raw = sdk.chat.completions.with_raw_response.create(model="team-model", messages=HI)
    assert raw.http_response.status_code == 200
    assert raw.headers["x-wattgate-deployment"] == "backup"
    assert raw.headers["x-wattgate-attempts"] == "2"
    chunks = list(sdk.chat.completions.create(model="team-model", messages=HI, stream=True))
    assert chunks[-1].impacts
    gateway.wait_written()
    rows = fetch_rows(sqlite_url, 4)
    assert [(r["deployment"], r["attempt"], r["status_code"]) for r in rows] == [
        ("primary", 0, 502), ("backup", 1, 200), ("primary", 0, 502), ("backup", 1, 200)]
    assert rows[0]["request_id"] == rows[1]["request_id"] == raw.headers["x-request-id"]
    assert rows[0]["error_type"] == "upstream_unreachable" and rows[0]["energy_wh"] == 0
    assert rows[1]["energy_wh"] > 0


def test_rate_limited_deployment_is_retried_then_falls_back(
    make_gateway: GatewayFactory, mock_upstream: str, sqlite_url: str
) -> None:
    gateway = make_gateway(config=chain_config(
        mock_upstream, mock_upstream,
        first_extra='retries: 1\n    backoff_s: 0.01\n    headers: {x-mock-status: "429"}'))
    raw = client(gateway).chat.completions.with_raw_response.create(model="team-model",
                                                                    messages=HI)
    assert raw.headers["x-wattgate-deployment"] == "backup"
    assert raw.headers["x-wattgate-attempts"] == "3"
    gateway.wait_written()
    rows = fetch_rows(sqlite_url, 3)
    assert [(r["deployment"], r["attempt"], r["status_code"]) for r in rows] == [
        ("primary", 0, 429), ("primary", 1, 429), ("backup", 2, 200)]


def test_last_attempts_answer_is_relayed(make_gateway: GatewayFactory, mock_upstream: str,
                                         sqlite_url: str) -> None:
    gateway = make_gateway(config=chain_config(mock_upstream, mock_upstream))
    with pytest.raises(openai.InternalServerError) as failed:
        client(gateway).chat.completions.create(model="team-model", messages=HI,
                                                extra_headers={"x-mock-status": "503"})
    assert failed.value.response.headers["x-wattgate-attempts"] == "2"
    with pytest.raises(openai.BadRequestError):  # a 400 is the caller's fault: no fallback
        client(gateway).chat.completions.create(model="team-model", messages=HI,
                                                extra_headers={"x-mock-status": "400"})
    gateway.wait_written()
    rows = fetch_rows(sqlite_url, 3)
    assert [(r["attempt"], r["status_code"]) for r in rows] == [(0, 503), (1, 503), (0, 400)]


def test_translated_deployment_falls_back_to_openai_compatible(
    make_gateway: GatewayFactory, mock_upstream: str, sqlite_url: str
) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    gateway = make_gateway(config=textwrap.dedent(f"""
        models:
          - name: smart
            provider: anthropic
            base_url: {down}
            upstream_model: claude-3-5-haiku-latest
            api_key_env: HOUSE_ANTHROPIC_KEY
          - name: smart
            base_url: {mock_upstream}
            upstream_model: gpt-4o-mini
    """), HOUSE_ANTHROPIC_KEY="sk-ant-house")
    raw = client(gateway).chat.completions.with_raw_response.create(model="smart", messages=HI)
    assert raw.headers["x-wattgate-deployment"] == "smart#2"
    gateway.wait_written()
    rows = fetch_rows(sqlite_url, 2)
    assert [(r["provider"], r["status_code"]) for r in rows] == [("anthropic", 502),
                                                                 ("openai", 200)]


def test_retry_after_is_honoured_up_to_the_cap(
    make_gateway: GatewayFactory, mock_upstream: str, sqlite_url: str
) -> None:
    # the mock's 429s say `Retry-After: 1`
    gateway = make_gateway(config=chain_config(
        mock_upstream, mock_upstream,
        first_extra='retries: 1\n    backoff_s: 0.01\n    headers: {x-mock-status: "429"}'))
    started = time.monotonic()
    client(gateway).chat.completions.create(model="team-model", messages=HI)
    assert time.monotonic() - started >= 0.95  # waited as asked, not the 10 ms backoff
    capped = make_gateway(
        config=chain_config(
            mock_upstream, mock_upstream,
            first_extra='retries: 3\n    backoff_s: 0.01\n    headers: {x-mock-status: "429"}'),
        WATTGATE_UPSTREAM_RETRY_AFTER_MAX_S="0.5",
    )
    raw = client(capped).chat.completions.with_raw_response.create(model="team-model",
                                                                    messages=HI)
    # a wait beyond the cap ends the tries on that deployment: straight to the backup
    assert raw.headers["x-wattgate-attempts"] == "2"
    assert raw.headers["x-wattgate-deployment"] == "backup"


def test_metrics_count_a_request_once_and_each_try_apart(
    make_gateway: GatewayFactory, mock_upstream: str
) -> None:
    down = f"http://127.0.0.1:{free_port()}/v1"
    gateway = make_gateway(config=chain_config(down, mock_upstream))
    client(gateway).chat.completions.create(model="team-model", messages=HI)
    samples = metric_samples(gateway.url, gateway.master_key)
    requests = {dict(labels)["status"]: v for (name, labels), v in samples.items()
                if name == "wattgate_requests_total"}
    assert requests == {"200": 1.0}  # the failed first try is not a failed request
    tries = {(dict(labels)["deployment"], dict(labels)["status"]): v
             for (name, labels), v in samples.items()
             if name == "wattgate_upstream_attempts_total"}
    assert tries == {("primary", "502"): 1.0, ("backup", "200"): 1.0}
