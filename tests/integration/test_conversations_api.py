"""`GET /v1/conversations/{id}/impacts`: totals equal the stored rows, team-scoped, and the
rest of `/v1/conversations` (OpenAI's Conversations API) still passes through."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from estimators.equivalents import equivalents
from proxy.store.db import create_engine
from proxy.store.usage import insert_events
from tests.integration.conftest import GatewayFactory
from tests.reports_seed import make_row


def _rows() -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    rows = []
    for i, (team, conversation, response) in enumerate([
        ("search", "chat/42", None), ("search", "chat/42", None), ("search", None, "resp_1"),
        ("search", "resp_1", "resp_2"), ("support", "chat/42", None), ("search", None, None),
    ]):
        row = make_row(team=team, model="gpt-4o" if i % 2 else "gpt-4o-mini",
                       created_at=now + timedelta(seconds=i), input_tokens=100 * (i + 1),
                       output_tokens=50)
        row.update(conversation_id=conversation, response_id=response)
        rows.append(row)
    return rows


def _insert(url: str, rows: list[dict[str, Any]]) -> None:
    async def main() -> None:
        engine = create_engine(url)
        try:
            await insert_events(engine, rows)
        finally:
            await engine.dispose()

    asyncio.run(main())


def _get(url: str, key: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.get(url, headers=headers, timeout=10)


def test_totals_are_the_stored_rows_of_the_team(make_gateway: GatewayFactory,
                                                 db_url: str) -> None:
    gateway = make_gateway(database_url=db_url)
    keys = {t: gateway.create_team_key(t) for t in ("search", "support", "research")}
    rows = _rows()
    _insert(db_url, rows)
    url = gateway.url + "/v1/conversations/chat%2F42/impacts"

    body = _get(url, keys["search"]).json()
    mine = [r for r in rows if r["team"] == "search" and r["conversation_id"] == "chat/42"]
    assert body["object"] == "conversation.impacts" and body["id"] == "chat/42"
    assert body["requests"] == len(mine) == 2 and body["teams"] == ["search"]
    energy = sum(r["energy_wh"] for r in mine)
    assert body["impacts"]["energy_wh"]["value"] == pytest.approx(energy, rel=1e-12)
    assert body["impacts"]["emissions_gco2e"]["max"] == pytest.approx(
        sum(r["emissions_gco2e_max"] for r in mine), rel=1e-12)
    assert body["impacts"]["water_ml"]["value"] == pytest.approx(
        sum(r["water_ml"] for r in mine), rel=1e-12)
    assert body["usage"]["input_tokens"] == sum(r["input_tokens"] for r in mine)
    assert body["models"] == sorted({r["model_id"] for r in mine})
    s = {name: body["impacts"][name]["value"] for name in
         ("energy_wh", "emissions_gco2e", "water_ml")}
    assert body["impacts"]["equivalents"] == equivalents(**s)

    support = _get(url, keys["support"]).json()
    assert support["requests"] == 1 and support["teams"] == ["support"]
    assert _get(url, gateway.master_key).json()["requests"] == 3  # the admin sees all teams

    missing = _get(url, keys["research"])
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "not_found_error"
    assert _get(url, None).status_code == 401
    assert _get(url, "wg-not-a-key").status_code == 401


def test_a_responses_chain_is_named_by_its_first_response(make_gateway: GatewayFactory) -> None:
    gateway = make_gateway()
    key = gateway.create_team_key("search")
    rows = _rows()
    _insert(gateway.env["WATTGATE_DATABASE_URL"], rows)
    body = _get(gateway.url + "/v1/conversations/resp_1/impacts", key).json()
    chain = [r for r in rows if "resp_1" in (r["conversation_id"], r["response_id"])]
    assert body["requests"] == len(chain) == 2
    assert body["impacts"]["energy_wh"]["value"] == pytest.approx(
        sum(r["energy_wh"] for r in chain), rel=1e-12)


def test_openai_conversations_api_passes_through(make_gateway: GatewayFactory) -> None:
    gateway = make_gateway(master_key=None)
    passed = _get(gateway.base_url + "/conversations/conv_abc", "sk-client")
    assert passed.status_code == 404
    assert "Invalid URL (GET /v1/conversations/conv_abc)" in passed.json()["error"]["message"]
    ours = _get(gateway.base_url + "/conversations/conv_abc/impacts", "sk-client")
    assert ours.status_code == 404
    assert "No conversation 'conv_abc'" in ours.json()["error"]["message"]
