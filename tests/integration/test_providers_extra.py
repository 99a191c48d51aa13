"""An install without the `providers` extra (no litellm): calls that need it get a clear
OpenAI-shaped error naming the extra, and `wattgate serve` refuses a configuration whose
deployments need it (or span export without the `otel` extra). A missing package is
simulated the way Python spells it: `sys.modules["litellm"] = None` makes
`import litellm` raise ImportError."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import openai
import pytest

from proxy.config import load_settings
from proxy.preflight import PreflightError, check_extras
from tests.integration.conftest import GatewayFactory
from tests.processes import clean_env
from tests.rows import fetch_rows

HI = [{"role": "user", "content": "hello"}]
GEMINI = """
models:
  - name: gemini-flash
    provider: gemini
    base_url: http://127.0.0.1:9/v1beta
    upstream_model: gemini-2.0-flash
"""


@pytest.fixture
def no_litellm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "litellm", None)


def test_translated_calls_name_the_extra(
    make_gateway: GatewayFactory, mock_upstream: str, sqlite_url: str, no_litellm: None
) -> None:
    gateway = make_gateway(config=GEMINI + (
        "  - {name: smart, provider: gemini, upstream_model: gemini-2.0-flash}\n"
        f"  - {{name: smart, base_url: '{mock_upstream}', upstream_model: gpt-4o-mini}}\n"
    ))
    sdk = openai.OpenAI(base_url=gateway.base_url, api_key=gateway.create_team_key("apps"),
                        max_retries=0)
    for model, stream in [("claude-3-5-haiku-latest", False), ("gemini-flash", False),
                          ("gemini-flash", True)]:
        with pytest.raises(openai.APIStatusError) as failed:
            if stream:
                list(sdk.chat.completions.create(model=model, messages=HI, stream=True))
            else:
                sdk.chat.completions.create(model=model, messages=HI)
        response = failed.value.response
        assert response.status_code == 501
        assert response.headers["x-request-id"].startswith("req_")
        error = response.json()["error"]
        assert error["code"] == "providers_extra_missing" and error["type"] == "server_error"
        assert "pip install 'wattgate[providers]'" in error["message"]

    # In a fallback chain the next deployment answers.
    completion = sdk.chat.completions.create(model="smart", messages=HI)
    assert completion.model.startswith("gpt-4o-mini") and completion.impacts
    gateway.wait_written()
    rows = fetch_rows(sqlite_url, 5)
    assert [(r["requested_model"], r["status_code"]) for r in rows] == [
        ("claude-3-5-haiku-latest", 501), ("gemini-flash", 501), ("gemini-flash", 501),
        ("smart", 501), ("smart", 200)]


def test_serve_refuses_a_config_that_needs_the_extra(tmp_path: Path, no_litellm: None) -> None:
    config = tmp_path / "wattgate.yaml"
    config.write_text(GEMINI)
    with pytest.raises(PreflightError, match="model 'gemini-flash' .provider gemini. is "
                                             "reached through litellm, which is not installed"):
        check_extras(load_settings(env={}, config_path=str(config)))
    check_extras(load_settings(env={}))  # OpenAI only: litellm is not needed

    code = "import sys; sys.modules['litellm'] = None; from proxy.cli import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", code, "serve", "--config", str(config)],
        env=clean_env(WATTGATE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'w.db'}"),
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "Error: config: model 'gemini-flash' (provider gemini) is reached through litellm, "
        "which is not installed: install Wattgate with the 'providers' extra "
        "(pip install 'wattgate[providers]')"]
    assert not (tmp_path / "w.db").exists()


def test_serve_refuses_span_export_without_opentelemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(env={"WATTGATE_OTEL_ENDPOINT": "http://127.0.0.1:4318"})
    check_extras(settings)  # installed here
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk", None)
    with pytest.raises(PreflightError, match=r"^WATTGATE_OTEL_ENDPOINT is set but OpenTelemetry "
                                             r"is not installed: .*'wattgate\[otel\]'"):
        check_extras(settings)
