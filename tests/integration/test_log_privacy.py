"""No prompt or completion text in any log, at any level, the libraries' included.

Calls carrying a distinctive prompt go through an OpenAI-compatible deployment and a
litellm-translated one (Gemini, on a loopback mock), plain and streamed, and a failing
one. Every log record is checked in process (captured at the root logger, debug on for
Wattgate and every library), and so is everything a real `wattgate serve` process writes
with debug logging asked for everywhere, litellm's own `LITELLM_LOG=DEBUG` included.
"""

from __future__ import annotations

import io
import logging
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import orjson
import pytest

from proxy.logs import JsonFormatter, TextFormatter, setup_logging
from tests.integration.conftest import MASTER_KEY, GatewayFactory
from tests.logging_state import kept_logging
from tests.mock_gemini import REPLY as GEMINI_REPLY
from tests.mock_gemini import MockGemini
from tests.processes import ServeProcess, clean_env
from tests.servers import ServerThread

CANARY = "PROMPT-CANARY-7f3a"
PROMPT = [{"role": "user", "content": f"{CANARY}: summarise our secret quarterly plans"}]
# What the upstreams answer: nothing of it may be logged either.
COMPLETIONS = (GEMINI_REPLY, "Wattgate mock upstream. Every word")


def config(gemini_url: str) -> str:
    return textwrap.dedent(f"""
        models:
          - name: gemini-flash
            provider: gemini
            base_url: {gemini_url}
            upstream_model: gemini-2.0-flash
            api_key_env: HOUSE_GEMINI_KEY
          - name: gemini-down
            provider: gemini
            base_url: {gemini_url}
            upstream_model: gemini-2.0-flash
            api_key_env: HOUSE_GEMINI_KEY
            headers: {{x-mock-status: "500"}}
    """)


@pytest.fixture(scope="module")
def gemini_url() -> Iterator[str]:
    server = ServerThread(MockGemini()).start()
    yield server.url
    server.stop()


def traffic(sdk: openai.OpenAI) -> list[str]:
    """Plain and streamed calls through both deployments, and a failing one; their ids."""
    ids = []
    for model in ("gpt-4o-mini", "gemini-flash"):
        raw = sdk.chat.completions.with_raw_response.create(model=model, messages=PROMPT)
        assert raw.parse().choices[0].message.content
        ids.append(raw.headers["x-request-id"])
        with sdk.chat.completions.with_streaming_response.create(
            model=model, messages=PROMPT, stream=True
        ) as stream:
            assert CANARY not in stream.read().decode()
            ids.append(stream.headers["x-request-id"])
    with pytest.raises(openai.InternalServerError) as failed:
        sdk.chat.completions.create(model="gemini-down", messages=PROMPT)
    ids.append(failed.value.response.headers["x-request-id"])
    return ids


def assert_private(text: str) -> None:
    assert CANARY not in text
    for completion in COMPLETIONS:
        assert completion not in text


class Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def debug_everywhere() -> Iterator[tuple[Keep, io.StringIO]]:
    """`setup_logging` at debug for Wattgate and every library, plus a handler keeping every
    record that reaches the root logger; the logging configuration is restored after."""
    with kept_logging():
        stream = io.StringIO()
        setup_logging(level="debug", library_level="debug", stream=stream)
        keep = Keep()
        logging.getLogger().addHandler(keep)
        yield keep, stream


def test_no_prompt_in_any_record(
    make_gateway: GatewayFactory, gemini_url: str, debug_everywhere: tuple[Keep, io.StringIO]
) -> None:
    keep, stream = debug_everywhere
    gateway = make_gateway(config=config(gemini_url), HOUSE_GEMINI_KEY="gm-house-key")
    sdk = openai.OpenAI(base_url=gateway.base_url, api_key=gateway.create_team_key("apps"),
                        max_retries=0)
    ids = traffic(sdk)
    gateway.wait_written()

    assert len(keep.records) > len(ids)  # debug really was on
    for record in keep.records:
        for formatter in (TextFormatter(), JsonFormatter()):
            assert_private(formatter.format(record))
    assert_private(stream.getvalue())
    access = [r for r in keep.records if r.name == "wattgate.access"]
    assert [r.fields["request_id"] for r in access] == ids  # type: ignore[attr-defined]
    assert [r.fields["status"] for r in access] == [200, 200, 200, 200, 500]  # type: ignore[attr-defined]
    (failure,) = [r for r in keep.records if r.name == "wattgate.upstream"]
    assert failure.fields["request_id"] == ids[-1]  # type: ignore[attr-defined]
    assert "mock error 500" in failure.fields["cause"]  # type: ignore[attr-defined]


def test_no_prompt_on_a_serving_process(
    mock_upstream: str, gemini_url: str, tmp_path: Path
) -> None:
    config_path = tmp_path / "wattgate.yaml"
    config_path.write_text(config(gemini_url))
    env = clean_env(
        WATTGATE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'wattgate.db'}",
        WATTGATE_SPOOL_PATH=str(tmp_path / "spool.jsonl"),
        WATTGATE_UPSTREAM_BASE_URL=mock_upstream,
        WATTGATE_UPSTREAM_API_KEY="sk-upstream-secret",
        WATTGATE_MASTER_KEY=MASTER_KEY,
        WATTGATE_LOG_LEVEL="debug",
        WATTGATE_LIBRARY_LOG_LEVEL="debug",
        WATTGATE_LOG_FORMAT="json",
        LITELLM_LOG="DEBUG",
        HOUSE_GEMINI_KEY="gm-house-key",
    )
    server = ServeProcess("serve", "--config", str(config_path), env=env, cwd=tmp_path)
    try:
        server.wait_ready()
        admin = {"Authorization": f"Bearer {MASTER_KEY}"}
        httpx.post(server.url + "/admin/teams", json={"name": "apps"}, headers=admin)
        key = httpx.post(server.url + "/admin/keys", json={"team": "apps"}, headers=admin)
        sdk = openai.OpenAI(base_url=server.url + "/v1", api_key=key.json()["key"],
                            max_retries=0)
        ids = traffic(sdk)
    finally:
        output = server.stop()

    assert_private(output)
    records = [orjson.loads(line) for line in output.splitlines()]  # JSON, one per line
    assert any(r["level"] == "debug" for r in records)
    access = [r for r in records if r["logger"] == "wattgate.access"]
    assert [(r["request_id"], r["team"]) for r in access] == [(i, "apps") for i in ids]
    assert all(r["energy_wh"] > 0 for r in access[:4]) and access[4]["status"] == 500
