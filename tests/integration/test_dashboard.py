"""The dashboard in headless Chromium shows the same numbers as the report API."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import httpx
import openai
import pytest

from tests.integration.conftest import GatewayFactory

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


def _chromium(*args: str) -> str:
    if CHROMIUM is None:
        if IN_CI:
            pytest.fail("CI=true but chromium is not installed (apt-get install chromium)")
        pytest.skip("chromium not installed")
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--virtual-time-budget=8000", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    return done.stdout


def test_dashboard_numbers_match_the_report_api(make_gateway: GatewayFactory) -> None:
    if CHROMIUM is None and not IN_CI:
        pytest.skip("chromium not installed")
    gateway = make_gateway()
    keys = {t: gateway.create_team_key(t) for t in ("search", "support")}
    for team, model in (("search", "gpt-4o"), ("search", "gpt-4o-mini"), ("support", "gpt-4o")):
        client = openai.OpenAI(base_url=gateway.base_url, api_key=keys[team], max_retries=0)
        for _ in range(2):
            client.chat.completions.create(model=model,
                                           messages=[{"role": "user", "content": "hi"}])
    gateway.wait_written()
    gateway.admin("PUT", "/admin/teams/search/budget", json={"soft_gco2e": 0.001,
                                                              "hard_gco2e": 100})
    assert httpx.get(gateway.url + "/dashboard").headers["content-type"].startswith("text/html")
    month = datetime.now(UTC).strftime("%Y-%m")

    for key, teams in ((gateway.master_key, 2), (keys["support"], 1)):
        api = httpx.get(gateway.url + "/v1/reports", params={"by": "day,team", "month": month},
                        headers={"Authorization": f"Bearer {key}"}).json()["total"]
        dom = _chromium("--dump-dom", f"{gateway.url}/dashboard#key={key}")
        assert 'data-loaded="true"' in dom, dom[-2000:]

        def value(element_id: str, dom: str = dom) -> str:
            m = re.search(rf'id="{element_id}"[^>]*data-value="([^"]*)"', dom)
            assert m, element_id
            return m.group(1)

        assert int(value("total-requests")) == api["requests"]
        assert float(value("total-energy")) == pytest.approx(api["energy_kwh"], rel=1e-12)
        assert float(value("total-emissions")) == pytest.approx(
            api["emissions_location_gco2e"], rel=1e-12)
        assert dom.count("<svg") >= 6
        assert (f"{teams} teams" if teams > 1 else "team support") in dom
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dashboard.png"
    _chromium(f"--screenshot={shot}", "--window-size=1400,2200",
              f"{gateway.url}/dashboard#key={gateway.master_key}")
    assert shot.is_file() and shot.stat().st_size > 10_000
