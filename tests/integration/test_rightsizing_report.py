"""Task shapes stored end to end (official SDK -> gateway -> mock), and the right-sizing
report (API, CLI, ESG section) equal to the stored rows, team-scoped, with no text stored."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import httpx
import openai
import orjson
import pytest
from click.testing import CliRunner

from estimators import estimate
from proxy.cli import cli
from proxy.rightsizing.config import DEFAULT_CANDIDATES
from tests.integration.conftest import GatewayFactory
from tests.rows import fetch_rows
from tests.servers import Gateway

MONTH = datetime.now(UTC).strftime("%Y-%m")
QUEUES = {"type": "string", "enum": ["billing", "shipping", "refund"]}
LABEL_FORMAT = {"type": "json_schema", "json_schema": {"name": "q", "schema": {
    "type": "object", "properties": {"queue": QUEUES}, "required": ["queue"]}}}
SAVE = {"type": "function", "function": {"name": "save", "parameters": {
    "type": "object", "properties": {"name": {"type": "string"}, "amount": {"type": "number"},
                                     "date": {"type": "string"}}}}}
SECRET = "Zebrafish-Quokka"  # in every prompt: must never reach the database


def prompt(i: int) -> str:
    return f"{SECRET} ticket {i}: parcel {i * 13} arrived damaged, what now?"


def seed(gateway: Gateway) -> dict[str, str]:
    keys = {team: gateway.create_team_key(team) for team in ("support", "search")}
    support = openai.OpenAI(base_url=gateway.base_url, api_key=keys["support"], max_retries=0)
    search = openai.OpenAI(base_url=gateway.base_url, api_key=keys["search"], max_retries=0)
    for i in range(6):
        support.chat.completions.create(
            model="gpt-4o", messages=[{"role": "system", "content": "Classify the ticket."},
                                      {"role": "user", "content": prompt(i)}],
            response_format=LABEL_FORMAT)  # type: ignore[arg-type]
    for i in range(2):
        support.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": prompt(100 + i)}],
            tools=[SAVE], tool_choice="required")  # type: ignore[list-item]
        support.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": f"{SECRET}: tell a story"}],
            extra_headers={"x-mock-output-tokens": "400"})
    support.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": f"{SECRET} yes or no?"}],
        max_tokens=2)
    support.embeddings.create(model="text-embedding-3-small", input=[prompt(7)])
    for i in range(3):
        search.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "Label: " + prompt(200 + i)}],
            response_format=LABEL_FORMAT)  # type: ignore[arg-type]
    gateway.wait_written()
    return keys


def model_of(row: dict[str, Any]) -> str:
    """The model a report groups a row by: its catalog id, else the name asked for."""
    return str(row["model_id"] or row["requested_model"])


def get(gateway: Gateway, key: str | None, **params: str) -> httpx.Response:
    return httpx.get(gateway.url + "/v1/rightsizing", params={"month": MONTH, **params},
                     headers={"Authorization": f"Bearer {key}"}, timeout=30)


def expected_candidate_wh(rows: list[dict[str, Any]], model: str, *, encoder: bool,
                          overrides: Any) -> float:
    """Each stored row re-estimated on the candidate at its own site, summed."""
    return sum(estimate(model, input_tokens=r["input_tokens"], output_tokens=r["output_tokens"],
                        cached_input_tokens=r["cached_input_tokens"],
                        reasoning_tokens=r["reasoning_tokens"],
                        kind="embedding" if encoder else "chat", provider=r["provider"],
                        zone=r["grid_zone"], grid_intensity=r["grid_gco2e_per_kwh"],
                        overrides=overrides).energy_wh.value for r in rows)


def test_labels_are_stored_without_text(make_gateway: GatewayFactory, db_url: str) -> None:
    gateway = make_gateway(database_url=db_url)
    seed(gateway)
    rows = fetch_rows(db_url)
    by_task = Counter((r["team"], r["requested_model"], r["task"]) for r in rows)
    assert by_task == {
        ("support", "gpt-4o", "classification"): 6, ("support", "gpt-4o", "extraction"): 2,
        ("support", "gpt-4o", "generation"): 2, ("support", "gpt-4o-mini", "classification"): 1,
        ("support", "text-embedding-3-small", "embedding"): 1,
        ("search", "gpt-4o", "classification"): 3,
    }
    for r in rows:
        assert 0 < r["task_confidence"] <= 1
        signals = r["task_signals"].split(",") if r["task_signals"] else []
        if r["task"] == "classification" and r["requested_model"] == "gpt-4o":
            assert {"rf:enum", "out:tiny"} <= set(signals)
        if r["task"] == "extraction":
            assert "tool:schema" in signals
        if r["task"] == "generation":
            assert signals == ["kw:gen", "io:exp"]
        for value in r.values():
            assert SECRET.lower() not in str(value).lower()


def test_report_equals_the_rows(make_gateway: GatewayFactory, db_url: str) -> None:
    gateway = make_gateway(database_url=db_url)
    keys = seed(gateway)
    rows = fetch_rows(db_url)
    body = get(gateway, gateway.master_key).json()
    assert body["object"] == "rightsizing" and body["evidence"] == []
    assert body["shadow_total"] == {"calls": 0, "energy_wh": 0, "emissions_gco2e": 0,
                                    "water_ml": 0}
    got = {(r["team"], r["model"], r["task"]): r for r in body["rows"]}
    assert len(got) == 6
    for (team, model, task), row in got.items():
        mine = [r for r in rows if (r["team"], model_of(r), r["task"]) == (team, model, task)]
        same_model = [r for r in rows if (r["team"], model_of(r)) == (team, model)]
        assert row["calls"] == len(mine)
        assert row["share_of_model_calls"] == pytest.approx(len(mine) / len(same_model))
        assert row["energy_wh"] == pytest.approx(sum(r["energy_wh"] for r in mine), rel=1e-9)
        assert row["emissions_gco2e"] == pytest.approx(sum(r["emissions_gco2e"] for r in mine),
                                                       rel=1e-9)
        assert row["task_confidence"] == pytest.approx(
            sum(r["task_confidence"] for r in mine) / len(mine))
        candidates = DEFAULT_CANDIDATES.get(task, ())
        assert [c["name"] for c in row["candidates_detail"]] == [c.name for c in candidates]
        for detail, candidate in zip(row["candidates_detail"], candidates, strict=True):
            want = expected_candidate_wh(mine, candidate.model, encoder=candidate.encoder,
                                         overrides=candidate.overrides)
            assert detail["energy_wh"] == pytest.approx(want, rel=1e-9)
            assert detail["energy_share"] == pytest.approx(want / row["energy_wh"])
        if candidates:
            first = row["candidates_detail"][0]
            assert row["recommended"] == first["name"] == candidates[0].name
            assert row["energy_saving_share"] == pytest.approx(1 - first["energy_share"])
            assert row["emissions_gco2e_saved"] == pytest.approx(
                row["emissions_gco2e"] - first["emissions_gco2e"])
        else:
            assert row["recommended"] is None and row["summary"] is None

    support = got[("support", "openai/gpt-4o", "classification")]
    assert support["summary"].startswith(
        "60% of team support's gpt-4o calls are classification-shaped: a fine-tuned "
        "classifier would use ~")
    assert ", an 8B model ~" in support["summary"]
    classifier, small = support["candidates_detail"]
    # short classification calls: a batched classifier pass is well under 1% of a gpt-4o call;
    # an 8B model on one GPU carries fewer concurrent streams than gpt-4o's replica
    assert classifier["energy_share"] < small["energy_share"] < 0.35
    assert classifier["energy_share"] < 0.01

    # Team keys see their own team only, whatever they filter on.
    for params in ({}, {"team": "support"}, {"team": "search,support"}):
        mine = get(gateway, keys["search"], **params).json()["rows"]
        assert {r["team"] for r in mine} <= {"search"}
    assert len(get(gateway, keys["search"]).json()["rows"]) == 1
    assert get(gateway, keys["search"], team="support").json()["rows"] == []

    # Filters and text formats.
    only = get(gateway, gateway.master_key, model="gpt-4o-mini").json()["rows"]
    assert [(r["team"], r["task"]) for r in only] == [("support", "classification")]
    table = get(gateway, gateway.master_key, format="table").text
    assert "fine-tuned classifier" in table and "Shadow evaluation" not in table
    listed = list(csv.DictReader(io.StringIO(get(gateway, gateway.master_key,
                                                 format="csv").text)))
    assert len(listed) == 6 and "candidates_detail" not in listed[0]
    assert get(gateway, gateway.master_key, format="yaml").status_code == 400
    assert get(gateway, gateway.master_key, month="2026-13").json()["error"]["param"] == "month"
    assert get(gateway, None).status_code == 401


def test_cli_and_esg_section_match_the_api(make_gateway: GatewayFactory, db_url: str) -> None:
    gateway = make_gateway(database_url=db_url)
    seed(gateway)
    api = get(gateway, gateway.master_key).json()
    env = {"WATTGATE_DATABASE_URL": db_url}
    runner = CliRunner()
    out = runner.invoke(cli, ["rightsize", "--month", MONTH, "--format", "json"], env=env,
                        obj={})
    assert out.exit_code == 0, out.output
    assert orjson.loads(out.output)["rows"] == api["rows"]
    table = runner.invoke(cli, ["rightsize", "--month", MONTH, "--team", "search"], env=env,
                          obj={})
    assert table.exit_code == 0 and "search" in table.output and "support" not in table.output
    bad = runner.invoke(cli, ["rightsize", "--quarter", "2026Q9"], env=env, obj={})
    assert bad.exit_code == 2 and "quarter" in bad.output

    esg = httpx.get(gateway.url + "/v1/reports", params={"esg": "1", "month": MONTH},
                    headers={"Authorization": f"Bearer {gateway.master_key}"}, timeout=30).json()
    section = esg["reduction_opportunities"]
    recommended = [r for r in api["rows"] if r["recommended"]]
    assert [(r["team"], r["model"], r["task"]) for r in section["rows"]] == [
        (r["team"], r["model"], r["task"]) for r in recommended]
    assert section["avoidable_tco2e"] == pytest.approx(
        sum(r["emissions_gco2e_saved"] for r in recommended) / 1e6)
    assert section["shadow_evaluation"]["calls"] == 0
    assert "not reductions achieved" in section["statement"]
    cli_esg = runner.invoke(cli, ["report", "--month", MONTH, "--esg", "--format", "csv"],
                            env=env, obj={})
    assert cli_esg.exit_code == 0, cli_esg.output
    lines = [row for row in csv.reader(io.StringIO(cli_esg.output))
             if row[0].startswith("reduction_opportunity:")]
    assert len(lines) == len(recommended)
    assert {(line[3], line[5]) for line in lines} == {("avoidable_tco2e", "tCO2e")}
