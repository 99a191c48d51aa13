"""What the calls did is what the database and /metrics say, on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import GatewayFactory
from tests.rows import fetch_rows


def metric_samples(url: str, token: str | None) -> dict[tuple[str, frozenset], float]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(url + "/metrics", headers=headers)
    assert response.status_code == 200, response.text
    text_ = response.text
    out = {}
    for family in text_string_to_metric_families(text_):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def test_rows_and_metrics_match_the_calls(make_gateway: GatewayFactory, db_url: str) -> None:
    gateway = make_gateway(database_url=db_url)
    clients = {
        team: openai.OpenAI(
            base_url=gateway.base_url, api_key=gateway.create_team_key(team), max_retries=0
        )
        for team in ("search", "support")
    }
    energy_by_team = {"search": 0.0, "support": 0.0}
    request_ids = []
    for i in range(6):
        team = "search" if i % 3 else "support"
        raw = clients[team].chat.completions.with_raw_response.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-mock-output-tokens": str(10 + i), "x-mock-prompt-tokens": "50"},
        )
        energy_by_team[team] += float(raw.parse().impacts["energy_wh"]["value"])
        request_ids.append(raw.headers["x-request-id"])
    streamed = list(
        clients["search"].chat.completions.create(
            model="gpt-4o-mini", stream=True, messages=[{"role": "user", "content": "hi"}]
        )
    )
    assert streamed
    with pytest.raises(openai.RateLimitError):
        clients["support"].chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-mock-status": "429"},
        )
    gateway.wait_written()

    rows = fetch_rows(db_url)
    assert len(rows) == 8
    ok = [r for r in rows if r["status_code"] == 200 and not r["stream"]]
    assert [r["request_id"] for r in ok] == request_ids
    assert [r["output_tokens"] for r in ok] == [10 + i for i in range(6)]
    assert all(r["input_tokens"] == 50 for r in ok)
    assert all(r["usage_source"] == "upstream" and r["method"] and r["grid_zone"] for r in ok)
    assert all(r["energy_wh_min"] <= r["energy_wh"] <= r["energy_wh_max"] for r in ok)
    for team, energy in energy_by_team.items():
        stored = sum(r["energy_wh"] for r in ok if r["team"] == team)
        assert stored == pytest.approx(energy, rel=1e-4)
    failed = [r for r in rows if r["status_code"] == 429]
    assert len(failed) == 1 and failed[0]["team"] == "support" and failed[0]["energy_wh"] == 0
    assert sum(r["stream"] for r in rows) == 1
    assert all(r["key_id"] for r in rows)

    samples = metric_samples(gateway.url, gateway.master_key)
    requests = {
        labels: v for (name, labels), v in samples.items() if name == "wattgate_requests_total"
    }
    ok_search = [
        v
        for labels, v in requests.items()
        if ("team", "search") in labels and ("status", "200") in labels
    ]
    assert sum(ok_search) == 5  # 4 plain + 1 stream
    joules = {"search": 0.0, "support": 0.0}
    for (name, labels), value in samples.items():
        if name == "wattgate_energy_joules_total":
            joules[dict(labels)["team"]] += value
    stream_energy = next(r["energy_wh"] for r in rows if r["stream"])
    assert joules["search"] == pytest.approx(
        (energy_by_team["search"] + stream_energy) * 3600, rel=1e-4
    )
    assert joules["support"] == pytest.approx(energy_by_team["support"] * 3600, rel=1e-4)
    output_tokens = sum(
        v
        for (name, labels), v in samples.items()
        if name == "wattgate_tokens_total" and ("type", "output") in labels
    )
    assert output_tokens == sum(r["output_tokens"] for r in rows)
    assert ("wattgate_usage_spooled_rows", frozenset()) in samples


def test_rows_survive_a_restart(make_gateway: GatewayFactory, db_url: str) -> None:
    first = make_gateway(database_url=db_url)
    key = first.create_team_key("search")
    client = openai.OpenAI(base_url=first.base_url, api_key=key, max_retries=0)
    for _ in range(5):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "a"}])
    first.stop()  # clean shutdown flushes the queue
    assert len(fetch_rows(db_url)) == 5
    second = make_gateway(database_url=db_url)
    client = openai.OpenAI(base_url=second.base_url, api_key=key, max_retries=0)
    for _ in range(3):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "b"}])
    second.wait_written()
    assert len(fetch_rows(db_url)) == 8


def test_impacts_lookup_is_team_scoped(make_gateway: GatewayFactory) -> None:
    gateway = make_gateway()
    search_key = gateway.create_team_key("search")
    support_key = gateway.create_team_key("support")
    raw = openai.OpenAI(
        base_url=gateway.base_url, api_key=search_key, max_retries=0
    ).chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
    )
    request_id = raw.headers["x-request-id"]
    gateway.wait_written()
    own = httpx.get(
        f"{gateway.base_url}/impacts/{request_id}",
        headers={"Authorization": f"Bearer {search_key}"},
    )
    assert own.status_code == 200
    stored, sent = own.json()["impacts"], raw.parse().impacts  # type: ignore[attr-defined]
    # the same rounding in the header, the body and the stored lookup
    assert stored["energy_wh"]["value"] == float(raw.headers["x-energy-wh"])
    for field in ("energy_wh", "emissions_gco2e", "water_ml"):
        assert stored[field] == sent[field], field
    assert stored["grid"]["gco2e_per_kwh"] == sent["grid"]["gco2e_per_kwh"]
    other = httpx.get(
        f"{gateway.base_url}/impacts/{request_id}",
        headers={"Authorization": f"Bearer {support_key}"},
    )
    assert other.status_code == 404
    admin = gateway.admin("GET", f"/v1/impacts/{request_id}")
    assert admin.status_code == 200


def test_no_prompt_text_is_stored(make_gateway: GatewayFactory) -> None:
    gateway = make_gateway()
    key = gateway.create_team_key("search")
    secret = "the-quarterly-numbers-are-confidential"
    openai.OpenAI(base_url=gateway.base_url, api_key=key, max_retries=0).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": secret}]
    )
    gateway.wait_written()
    database = gateway.env["WATTGATE_DATABASE_URL"].split("///", 1)[1]
    with open(database, "rb") as f:
        assert secret.encode() not in f.read()
    assert key.encode() not in open(database, "rb").read()
