"""Budgets on the request path: the remaining-budget header, then a 429 that names the budget."""

from __future__ import annotations

import openai
import pytest

from tests.integration.conftest import GatewayFactory


def test_soft_header_then_hard_refusal(make_gateway: GatewayFactory) -> None:
    gateway = make_gateway()
    key = gateway.create_team_key("search")
    other = gateway.create_team_key("support")
    client = openai.OpenAI(base_url=gateway.base_url, api_key=key, max_retries=0)
    first = client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
    )
    assert "x-carbon-budget-remaining-g" not in first.headers  # no budget yet
    per_call = float(first.headers["x-emissions-gco2e"])

    gateway.wait_written()
    hard = per_call * 3.5  # room for the call already made and two more
    response = gateway.admin(
        "PUT", "/admin/teams/search/budget", json={"soft_gco2e": per_call, "hard_gco2e": hard}
    )
    assert response.status_code == 200, response.text

    remaining = []
    for _ in range(3):
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
        )
        remaining.append(float(raw.headers["x-carbon-budget-remaining-g"]))
    assert remaining[0] == pytest.approx(hard - per_call, rel=0.01)
    assert remaining[0] > remaining[1] > remaining[2]

    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    error = info.value.body
    assert error["code"] == "budget_exceeded"
    assert "hard monthly carbon budget" in error["message"] and "resets on" in error["message"]
    assert info.value.response.headers["x-request-id"]

    # other teams are not affected
    openai.OpenAI(base_url=gateway.base_url, api_key=other, max_retries=0).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
    )
