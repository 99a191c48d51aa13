"""Open mode (no master key): the caller's own key goes upstream; usage goes to a team."""

from __future__ import annotations

import httpx
import openai

from tests.integration.conftest import GatewayFactory
from tests.integration.test_usage_records import fetch_rows


def test_open_mode_forwards_caller_key_and_attributes_teams(
    make_gateway: GatewayFactory, mock_upstream: str, sqlite_url: str
) -> None:
    gateway = make_gateway(master_key=None)
    client = openai.OpenAI(base_url=gateway.base_url, api_key="sk-caller-own-key", max_retries=0)
    completion = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
    )
    assert completion.impacts["energy_wh"]["value"] > 0
    seen = httpx.get(mock_upstream.removesuffix("/v1") + "/mock/last-request").json()
    headers = {k.lower(): v for k, v in seen["headers"].items()}
    assert headers["authorization"] == "Bearer sk-caller-own-key"
    assert "x-wattgate-team" not in headers
    client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"x-wattgate-team": "research"},
    )
    gateway.wait_written()
    assert [r["team"] for r in fetch_rows(sqlite_url)] == ["default", "research"]
    # the admin API answers local clients without a key in open mode
    assert gateway.admin("GET", "/admin/teams").status_code == 200
