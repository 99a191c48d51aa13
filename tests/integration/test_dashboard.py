"""The dashboard in headless Chromium: its numbers are the report API's, a model (or team)
has one colour on every chart, budgets flag a team over its hard limit, and the period,
drill-down and open mode work."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.integration.conftest import GatewayFactory
from tests.servers import Gateway

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
LONG_TEAM = "research-and-development"


def _chromium(*args: str) -> str:
    if CHROMIUM is None:
        if IN_CI:
            pytest.fail("CI=true but chromium is not installed (apt-get install chromium)")
        pytest.skip("chromium not installed")
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--virtual-time-budget=10000", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    return done.stdout


def _dom(url: str) -> str:
    dom = _chromium("--dump-dom", url)
    assert 'data-loaded="true"' in dom, dom[-3000:]
    return dom


def _tags(dom: str, name: str) -> list[dict[str, str]]:
    """Every `<name ...>` tag's attributes."""
    return [dict(re.findall(r'([\w-]+)="([^"]*)"', attrs))
            for attrs in re.findall(rf"<{name}\b([^>]*)>", dom)]


def _rgb(colour: str) -> str:
    """'#4e79a7' and 'background: rgb(78, 121, 167);' alike as 'rgb(78, 121, 167)'."""
    if colour.startswith("#"):
        r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
        return f"rgb({r}, {g}, {b})"
    m = re.search(r"rgb\([^)]*\)", colour)
    assert m, colour
    return m.group(0)


def _value(dom: str, element_id: str) -> str:
    m = re.search(rf'id="{element_id}"[^>]*data-value="([^"]*)"', dom)
    assert m, element_id
    return m.group(1)


def _section(dom: str, element_id: str) -> str:
    """The HTML of the chart container `element_id` (up to the next figure)."""
    start = dom.index(f'id="{element_id}"')
    end = dom.find("<figure", start)
    return dom[start:end if end != -1 else len(dom)]


def _report(gateway: Gateway, key: str, **params: str) -> dict[str, Any]:
    response = httpx.get(gateway.url + "/v1/reports", params=params, timeout=10,
                         headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _check_numbers(dom: str, report: dict[str, Any]) -> None:
    total = report["total"]
    assert int(_value(dom, "total-requests")) == total["requests"] > 0
    assert float(_value(dom, "total-energy")) == pytest.approx(total["energy_kwh"], rel=1e-12)
    assert float(_value(dom, "total-emissions")) == pytest.approx(
        total["emissions_location_gco2e"], rel=1e-12)
    assert float(_value(dom, "total-water")) == pytest.approx(total["water_l"], rel=1e-12)
    for name, value in report["equivalents"].items():
        if name != "method":
            assert float(_value(dom, f"eq-{name}")) == pytest.approx(value, rel=1e-12), name


def _seed(make_gateway: GatewayFactory) -> tuple[Gateway, dict[str, str]]:
    gateway = make_gateway()
    keys = {t: gateway.create_team_key(t) for t in ("search", "support", LONG_TEAM)}
    for team, model in (("search", "gpt-4o"), ("search", "gpt-4o-mini"), ("support", "gpt-4o"),
                        (LONG_TEAM, "gpt-4o")):
        client = openai.OpenAI(base_url=gateway.base_url, api_key=keys[team], max_retries=0)
        for _ in range(2):
            client.chat.completions.create(model=model,
                                           messages=[{"role": "user", "content": "hi"}])
    gateway.wait_written()
    used = _report(gateway, gateway.master_key or "", team="search")["total"]
    # search is 5x over its hard budget; support has a roomy one
    hard = used["emissions_location_gco2e"] / 5
    assert gateway.admin("PUT", "/admin/teams/search/budget", json={
        "soft_gco2e": hard / 2, "hard_gco2e": hard}).status_code == 200
    assert gateway.admin("PUT", "/admin/teams/support/budget", json={
        "soft_gco2e": 10, "hard_gco2e": 100}).status_code == 200
    return gateway, keys


def test_dashboard_matches_the_report_api_and_reads_well(make_gateway: GatewayFactory) -> None:
    if CHROMIUM is None and not IN_CI:
        pytest.skip("chromium not installed")
    gateway, keys = _seed(make_gateway)
    master = gateway.master_key or ""
    assert httpx.get(gateway.url + "/dashboard").headers["content-type"].startswith("text/html")
    month = datetime.now(UTC).strftime("%Y-%m")
    dom = _dom(f"{gateway.url}/dashboard#key={master}")
    _check_numbers(dom, _report(gateway, master, month=month, by="day,team"))
    assert "3 teams" in dom

    # One colour per model, and per team, on every chart and legend.
    colours: dict[tuple[str, str], set[str]] = defaultdict(set)
    charts: dict[tuple[str, str], set[str]] = defaultdict(set)
    for chart in ("chart-energy-team", "chart-emissions-team", "chart-energy-model",
                  "chart-emissions-model", "chart-provider", "chart-intensity",
                  "chart-whatif"):
        html = _section(dom, chart)
        for tag in ("rect", "i"):
            for attrs in _tags(html, tag):
                if attrs.get("data-kind") in ("model", "team") and attrs.get("data-series"):
                    key = (attrs["data-kind"], attrs["data-series"])
                    colours[key].add(_rgb(attrs.get("fill") or attrs.get("style", "")))
                    charts[key].add(chart)
    assert {s for k, s in colours if k == "model"} >= {"openai/gpt-4o", "openai/gpt-4o-mini"}
    assert {s for k, s in colours if k == "team"} == {"search", "support", LONG_TEAM}
    for key, seen in colours.items():
        assert len(seen) == 1, (key, seen)
    assert len(charts[("model", "openai/gpt-4o")]) >= 5  # stacked x2, bars x2, right-sizing
    by_colour = defaultdict(set)
    for (kind, series), seen in colours.items():
        by_colour[(kind, seen.pop())].add(series)
    assert all(len(names) == 1 for names in by_colour.values())  # no two share a colour

    # Budgets: search is flagged over budget (x5), its bar is visible, legend = marks.
    budgets = _section(dom, "chart-budgets")
    flags = re.findall(r'class="over-budget"[^>]*>([^<]*)<', budgets)
    assert flags == ["over budget ×5"], flags
    bars = {a["data-budget"]: a for a in _tags(budgets, "rect") if "data-budget" in a}
    assert float(bars["search (gCO2e)"]["width"]) > 100
    assert float(bars["support (gCO2e)"]["width"]) >= 1
    legend = {a["data-legend"]: _rgb(a["style"]) for a in _tags(budgets, "i")
              if "data-legend" in a}
    for mark in _tags(budgets, "line"):
        if "data-mark" in mark:
            assert legend[mark["data-mark"]] == _rgb(mark["stroke"])
    assert legend["hard_over"] == _rgb(bars["search (gCO2e)"]["fill"])

    # Right-sizing labels keep the team; the time charts have a slot per day so far.
    whatif = _section(dom, "chart-whatif")
    assert f">{LONG_TEAM} · gpt-4o" in whatif
    svg = _tags(_section(dom, "chart-energy-team"), "svg")[0]
    assert int(svg["data-slots"]) == datetime.now(UTC).day
    assert all(float(r["width"]) <= 36 for r in _tags(_section(dom, "chart-energy-team"), "rect"))
    assert "<path" in _section(dom, "chart-trend")
    assert 'data-team="search"' in dom  # the teams table drills down

    # A team key sees its team only, with the same numbers as the API.
    dom = _dom(f"{gateway.url}/dashboard#key={keys['support']}")
    _check_numbers(dom, _report(gateway, keys["support"], month=month))
    assert "team support" in dom

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dashboard.png"
    _chromium(f"--screenshot={shot}", "--window-size=1400,2600",
              f"{gateway.url}/dashboard#key={master}")
    assert shot.is_file() and shot.stat().st_size > 10_000


def test_drill_down_and_date_range(make_gateway: GatewayFactory) -> None:
    if CHROMIUM is None and not IN_CI:
        pytest.skip("chromium not installed")
    gateway, _ = _seed(make_gateway)
    master = gateway.master_key or ""
    today = datetime.now(UTC).date()
    start = (today - timedelta(days=6)).isoformat()
    dom = _dom(f"{gateway.url}/dashboard?team=search&from={start}&to={today}#key={master}")
    _check_numbers(dom, _report(gateway, master, team="search", **{"from": start},
                                to=today.isoformat()))
    assert "team search" in dom and 'id="crumbs"' in dom and "By end user" in dom
    assert 'id="crumbs" hidden' not in dom
    assert int(_tags(_section(dom, "chart-energy-model"), "svg")[0]["data-slots"]) == 7
    # a year is drawn by month
    year = today.year
    dom = _dom(f"{gateway.url}/dashboard?from={year}-01-01&to={year}-12-31#key={master}")
    assert int(_tags(_section(dom, "chart-energy-model"), "svg")[0]["data-slots"]) == (
        today.month)


def test_open_mode_asks_for_no_key(make_gateway: GatewayFactory) -> None:
    if CHROMIUM is None and not IN_CI:
        pytest.skip("chromium not installed")
    gateway = make_gateway(master_key=None)
    client = openai.OpenAI(base_url=gateway.base_url, api_key="sk-client", max_retries=0)
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    gateway.wait_written()
    assert httpx.get(gateway.url + "/dashboard/session").json() == {"open_mode": True}
    dom = _dom(f"{gateway.url}/dashboard")
    assert 'id="login" hidden' in dom and 'id="logout" hidden' in dom
    assert "open mode: no keys" in dom
    report = httpx.get(gateway.url + "/v1/reports", timeout=10).json()
    _check_numbers(dom, report)


def test_keyed_mode_asks_for_a_key_and_refuses_a_wrong_one(make_gateway: GatewayFactory
                                                           ) -> None:
    if CHROMIUM is None and not IN_CI:
        pytest.skip("chromium not installed")
    gateway = make_gateway()
    assert httpx.get(gateway.url + "/dashboard/session").json() == {"open_mode": False}
    dom = _chromium("--dump-dom", f"{gateway.url}/dashboard")
    assert 'id="app" hidden' in dom and 'id="login" hidden' not in dom
    dom = _chromium("--dump-dom", f"{gateway.url}/dashboard#key=wg-wrong")
    assert "Invalid or revoked API key." in dom and 'data-loaded="true"' not in dom
