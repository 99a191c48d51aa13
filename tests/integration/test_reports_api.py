"""`GET /v1/reports`, `/v1/whatif`, budgets and the CLI, against a real gateway."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime

import httpx
import openai
import orjson
import pytest
from click.testing import CliRunner

from estimators import estimate
from proxy.cli import cli
from proxy.reports.queries import COLUMNS
from proxy.reports.whatif import SAVINGS_TITLE
from tests.integration.conftest import GatewayFactory
from tests.integration.test_usage_records import fetch_rows

MONTH = datetime.now(UTC).strftime("%Y-%m")


def _seed(make_gateway: GatewayFactory, db_url: str):  # type: ignore[no-untyped-def]
    gateway = make_gateway(database_url=db_url)
    keys = {team: gateway.create_team_key(team) for team in ("search", "support")}
    for team, model, n in (("search", "gpt-4o", 3), ("search", "gpt-4o-mini", 2),
                           ("support", "gpt-4o", 2)):
        client = openai.OpenAI(base_url=gateway.base_url, api_key=keys[team], max_retries=0)
        for i in range(n):
            client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": "hi"}],
                extra_headers={"x-mock-output-tokens": str(20 + i), "x-mock-prompt-tokens": "80"})
    gateway.wait_written()
    return gateway, keys


def _get(gateway, key: str, path: str, **params: str) -> httpx.Response:  # type: ignore[no-untyped-def]
    return httpx.get(gateway.url + path, params=params, timeout=10,
                     headers={"Authorization": f"Bearer {key}"})


def test_reports_api_scopes_formats_and_errors(make_gateway: GatewayFactory, db_url: str) -> None:
    gateway, keys = _seed(make_gateway, db_url)
    rows = fetch_rows(db_url)
    admin = _get(gateway, gateway.master_key, "/v1/reports", by="team", month=MONTH).json()
    got = {r["team"]: r for r in admin["rows"]}
    for team in ("search", "support"):
        mine = [r for r in rows if r["team"] == team]
        assert got[team]["requests"] == len(mine)
        # JSON numbers are rounded to 6 significant digits (as every impacts output)
        assert got[team]["energy_kwh"] * 1000 == pytest.approx(
            sum(r["energy_wh"] for r in mine), rel=1e-5)
        assert got[team]["emissions_location_gco2e"] == pytest.approx(
            sum(r["emissions_gco2e"] for r in mine), rel=1e-5)
        assert got[team]["output_tokens"] == sum(r["output_tokens"] for r in mine)

    # A team key sees its own team only, whatever it asks for.
    for params in ({"by": "team"}, {"by": "team", "team": "support"},
                   {"by": "team,key", "team": "search,support"}):
        body = _get(gateway, keys["search"], "/v1/reports", month=MONTH, **params).json()
        assert {r["team"] for r in body["rows"]} <= {"search"}
    crafted = _get(gateway, keys["search"], "/v1/reports", team="support", month=MONTH).json()
    assert crafted["total"]["requests"] == 0
    budgets = _get(gateway, keys["search"], "/v1/budgets").json()["data"]
    assert {b["team"] for b in budgets} == {"search"}

    text = _get(gateway, gateway.master_key, "/v1/reports", by="team,model", month=MONTH,
                format="csv")
    assert text.headers["content-type"].startswith("text/csv")
    parsed = list(csv.DictReader(io.StringIO(text.text)))
    assert list(parsed[0]) == ["team", "model", *COLUMNS]
    assert {(r["team"], r["model"]) for r in parsed} == {
        ("search", "openai/gpt-4o"), ("search", "openai/gpt-4o-mini"),
        ("support", "openai/gpt-4o")}
    md = _get(gateway, gateway.master_key, "/v1/reports", by="model", format="markdown")
    assert md.text.startswith("| model | requests")

    for params, param in (({"month": "2026-13"}, "month"), ({"quarter": "Q3"}, "quarter"),
                          ({"by": "colour"}, "by"), ({"format": "xml"}, "format"),
                          ({"year": "2026", "month": "2026-01"}, "year"),
                          ({"from": "2026-10-05", "to": "2026-10-01"}, "to")):
        bad = _get(gateway, gateway.master_key, "/v1/reports", **params)
        assert bad.status_code == 400, params
        error = bad.json()["error"]
        assert error["type"] == "invalid_request_error" and error["param"] == param
        assert error["message"]
    assert _get(gateway, "wrong", "/v1/reports").status_code == 401


def test_esg_whatif_and_budgets(make_gateway: GatewayFactory, db_url: str) -> None:
    gateway, keys = _seed(make_gateway, db_url)
    rows = fetch_rows(db_url)
    esg = _get(gateway, gateway.master_key, "/v1/reports", esg="1", month=MONTH).json()
    assert "Scope 3 Category 1" in esg["label"]
    total_g = sum(r["emissions_gco2e"] for r in rows)
    assert esg["totals"]["location_based_tco2e"] == pytest.approx(total_g / 1e6, rel=1e-5)
    assert esg["sci"]["per_request_gco2e"] == pytest.approx(total_g / len(rows), rel=1e-5)
    assert {d["deployment"] for d in esg["deployments"]} == {"(default upstream)"}
    coefficients = esg["deployments"][0]["coefficients"]
    assert any(c["unit"] == "gCO2e/kWh" for c in coefficients)
    assert any(c["name"] == "estimation method" and "wattgate" in c["value"]
               for c in coefficients)
    assert "training" in esg["boundary"] and "end-user devices" in esg["boundary"]
    esg_csv = _get(gateway, gateway.master_key, "/v1/reports", esg="1", format="csv").text
    assert next(csv.reader(io.StringIO(esg_csv))) == [
        "section", "deployment", "model", "name", "value", "unit", "origin", "source"]

    crafted = _get(gateway, keys["search"], "/v1/whatif", month=MONTH, team="support").json()
    assert crafted["rows"] == []
    what = _get(gateway, keys["search"], "/v1/whatif", month=MONTH).json()
    assert {r["team"] for r in what["rows"]} == {"search"}
    row = next(r for r in what["rows"] if r["model"] == "openai/gpt-4o")
    mine = [r for r in rows if r["team"] == "search" and r["model_id"] == "openai/gpt-4o"]
    expected = sum(estimate("gpt-4o-mini", input_tokens=r["input_tokens"],
                            output_tokens=r["output_tokens"],
                            cached_input_tokens=r["cached_input_tokens"],
                            reasoning_tokens=r["reasoning_tokens"], provider=r["provider"],
                            zone=r["grid_zone"]).emissions_gco2e.value for r in mine)
    assert row["requests"] == len(mine)
    assert row["emissions_gco2e_alternative"] == pytest.approx(expected, rel=1e-5)
    assert row["emissions_gco2e_now"] == pytest.approx(
        sum(r["emissions_gco2e"] for r in mine), rel=1e-5)
    assert row["emissions_gco2e_saved"] > 0
    assert not [r for r in what["rows"] if r["model"] == "openai/gpt-4o-mini"]

    put = gateway.admin("PUT", "/admin/teams/search/budget",
                        json={"soft_gco2e": 0.0001, "hard_gco2e": 1e9})
    assert put.status_code == 200, put.text
    deadline = time.monotonic() + 5  # the guard's next refresh (every 2 s) sees the usage
    state = put.json()
    while not state["used_gco2e"] and time.monotonic() < deadline:
        time.sleep(0.1)
        state = gateway.admin("GET", "/admin/teams/search/budget").json()
    assert state["used_gco2e"] == pytest.approx(
        sum(r["emissions_gco2e"] for r in rows if r["team"] == "search"))
    assert state["soft_exceeded"] is True and state["remaining_gco2e"] > 0
    assert gateway.admin("PUT", "/admin/teams/nobody/budget", json={}).status_code == 404
    assert gateway.admin("PUT", "/admin/teams/search/budget",
                         json={"soft_wh": 5, "hard_wh": 1}).status_code == 400
    assert httpx.put(gateway.url + "/admin/teams/search/budget", json={},
                     headers={"Authorization": f"Bearer {keys['search']}"}).status_code == 403
    guard = gateway.app.runtime.budgets  # type: ignore[union-attr]
    assert guard.check("search").soft_exceeded
    gateway.admin("PUT", "/admin/teams/search/budget", json={"hard_gco2e": 0.0001})
    from proxy.errors import BudgetExceeded

    with pytest.raises(BudgetExceeded, match="hard monthly carbon budget.*resets on"):
        guard.check("search")


def test_report_savings_section(make_gateway: GatewayFactory, db_url: str) -> None:
    gateway, keys = _seed(make_gateway, db_url)
    admin = gateway.master_key

    def top(rows: list[dict]) -> list[dict]:  # type: ignore[type-arg]
        return sorted((r for r in rows if r["emissions_gco2e_saved"] > 0),
                      key=lambda r: -r["emissions_gco2e_saved"])[:5]

    # JSON: the report is unchanged, plus `savings`, equal to /v1/whatif for the same filters.
    for params in ({}, {"team": "support"}, {"model": "gpt-4o"}, {"provider": "openai"}):
        body = _get(gateway, admin, "/v1/reports", by="team", month=MONTH, **params).json()
        assert {"object", "period", "by", "columns", "rows", "total"} < set(body)
        what = _get(gateway, admin, "/v1/whatif", month=MONTH, **params).json()
        assert body["savings"] == top(what["rows"]) != []
        plain = _get(gateway, admin, "/v1/reports", by="team", month=MONTH, savings="0",
                     **params).json()
        assert "savings" not in plain and plain["rows"] == body["rows"]
    body = _get(gateway, admin, "/v1/reports", month=MONTH).json()
    assert {(r["team"], r["model"], r["alternative"]) for r in body["savings"]} == {
        ("search", "openai/gpt-4o", "openai/gpt-4o-mini"),
        ("support", "openai/gpt-4o", "openai/gpt-4o-mini")}

    # A team key only ever sees its own team's savings.
    for params in ({}, {"team": "support"}, {"team": "search,support"}):
        mine = _get(gateway, keys["search"], "/v1/reports", month=MONTH, **params).json()
        assert {r["team"] for r in mine["savings"]} <= {"search"}
        md = _get(gateway, keys["search"], "/v1/reports", month=MONTH, format="markdown",
                  **params).text
        assert "support" not in md
    mine = _get(gateway, keys["search"], "/v1/reports", month=MONTH).json()
    assert [r["team"] for r in mine["savings"]] == ["search"]

    # Table and markdown: a titled second section under the main table; CSV: one table.
    md = _get(gateway, admin, "/v1/reports", by="team", month=MONTH, format="markdown").text
    main, _, section = md.partition(f"\n## {SAVINGS_TITLE}\n\n")
    assert main.startswith("| team | requests") and section.startswith("| team | model | alt")
    assert section.count("openai/gpt-4o-mini") == 2
    table = _get(gateway, admin, "/v1/reports", month=MONTH, format="table").text
    assert f"\n{SAVINGS_TITLE}\n" in table
    off = _get(gateway, admin, "/v1/reports", month=MONTH, format="table", savings="false").text
    assert SAVINGS_TITLE not in off and table.startswith(off)
    csv_text = _get(gateway, admin, "/v1/reports", by="team", month=MONTH, format="csv").text
    assert SAVINGS_TITLE not in csv_text and len(list(csv.reader(io.StringIO(csv_text)))) == 3

    # An empty period: no section, an empty list in JSON.
    empty = _get(gateway, admin, "/v1/reports", month="2020-01").json()
    assert empty["savings"] == [] and empty["total"]["requests"] == 0
    for fmt in ("table", "markdown"):
        assert SAVINGS_TITLE not in _get(gateway, admin, "/v1/reports", month="2020-01",
                                         format=fmt).text


def test_cli_report_and_budget(make_gateway: GatewayFactory, db_url: str) -> None:
    gateway, _ = _seed(make_gateway, db_url)
    env = {"WATTGATE_DATABASE_URL": db_url}
    runner = CliRunner()
    out = runner.invoke(cli, ["report", "--month", MONTH, "--by", "team", "--format", "csv"],
                        env=env, obj={})
    assert out.exit_code == 0, out.output
    parsed = list(csv.DictReader(io.StringIO(out.output)))
    assert [r["team"] for r in parsed] == ["search", "support"]
    assert sum(int(r["requests"]) for r in parsed) == len(fetch_rows(db_url))
    bad = runner.invoke(cli, ["report", "--by", "colour"], env=env, obj={})
    assert bad.exit_code == 2 and "unknown grouping" in bad.output
    bad = runner.invoke(cli, ["report", "--quarter", "2026Q9"], env=env, obj={})
    assert bad.exit_code == 2 and "quarter must look like" in bad.output
    table = runner.invoke(cli, ["report", "--month", MONTH], env=env, obj={})
    assert table.exit_code == 0 and SAVINGS_TITLE in table.output
    assert "openai/gpt-4o-mini" in table.output.partition(SAVINGS_TITLE)[2]
    off = runner.invoke(cli, ["report", "--month", MONTH, "--no-savings"], env=env, obj={})
    assert off.exit_code == 0 and SAVINGS_TITLE not in off.output
    assert SAVINGS_TITLE not in out.output  # csv stays one table
    as_json = runner.invoke(cli, ["report", "--month", MONTH, "--team", "search", "--format",
                                  "json"], env=env, obj={})
    assert as_json.exit_code == 0, as_json.output
    assert [(r["team"], r["model"]) for r in orjson.loads(as_json.output)["savings"]] == [
        ("search", "openai/gpt-4o")]
    empty = runner.invoke(cli, ["report", "--month", "2020-01", "--format", "markdown"],
                          env=env, obj={})
    assert empty.exit_code == 0 and SAVINGS_TITLE not in empty.output
    esg = runner.invoke(cli, ["report", "--esg", "--format", "json"], env=env, obj={})
    assert esg.exit_code == 0 and "Scope 3" in esg.output
    what = runner.invoke(cli, ["whatif", "--team", "search", "--to", "gpt-4o-mini"],
                         env=env, obj={})
    assert what.exit_code == 0 and "openai/gpt-4o-mini" in what.output
    budget = runner.invoke(cli, ["teams", "budget", "search", "--hard-gco2e", "50",
                                 "--soft-gco2e", "10", "--format", "json"], env=env, obj={})
    assert budget.exit_code == 0, budget.output
    assert '"hard_gco2e": 50.0' in budget.output
