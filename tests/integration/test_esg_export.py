"""The ESG export lists, per deployment that used energy, the coefficients its calls were
estimated with; the what-if keeps the deployment's conditions. Real gateway, real SDK."""

from __future__ import annotations

import csv
import io
import textwrap
from datetime import UTC, datetime

import httpx
import openai
import orjson
import pytest
from click.testing import CliRunner

from estimators import Overrides, estimate
from proxy.cli import cli
from tests.integration.conftest import GatewayFactory
from tests.integration.test_usage_records import fetch_rows
from tests.servers import free_port

MONTH = datetime.now(UTC).strftime("%Y-%m")
HI = [{"role": "user", "content": "hello"}]


def _config(mock: str) -> str:
    down = f"http://127.0.0.1:{free_port()}/v1"
    return textwrap.dedent(f"""
        models:
          - name: azure-4o
            provider: azure
            base_url: {mock}
            upstream_model: gpt-4o
            estimate:
              model: gpt-4o
              pue: 1.18
              market_gco2e_per_kwh: 40
          - name: llama-local
            provider: vllm
            base_url: {mock}
            upstream_model: meta-llama/Llama-3.1-70B-Instruct
            estimate:
              gpu: A100
              gpu_count: 4
              batch_size: 16
              pue: 1.4
          - name: metered-8b
            provider: vllm
            base_url: {mock}
            upstream_model: meta-llama/Llama-3.1-8B-Instruct
            estimate:
              measured_wh_per_output_token: 0.0004
          - name: broken
            provider: mistral
            base_url: {down}
    """)


def _seed(make_gateway: GatewayFactory, mock_upstream: str, db_url: str):  # type: ignore[no-untyped-def]
    gateway = make_gateway(database_url=db_url, config=_config(mock_upstream))
    key = gateway.create_team_key("search")
    sdk = openai.OpenAI(base_url=gateway.base_url, api_key=key, max_retries=0)
    for model, n in (("azure-4o", 2), ("llama-local", 3), ("metered-8b", 1)):
        for _ in range(n):
            sdk.chat.completions.create(
                model=model, messages=HI, extra_headers={"x-mock-output-tokens": "200"}
            )
    with pytest.raises(openai.APIError):
        sdk.chat.completions.create(model="broken", messages=HI)
    gateway.wait_written()
    return gateway


def _esg(gateway, fmt: str = "json") -> httpx.Response:  # type: ignore[no-untyped-def]
    return httpx.get(
        gateway.url + "/v1/reports",
        timeout=10,
        params={"esg": "1", "month": MONTH, "format": fmt},
        headers={"Authorization": f"Bearer {gateway.master_key}"},
    )


def _coefficients(deployment: dict) -> dict[str, dict]:  # type: ignore[type-arg]
    return {c["key"]: c for c in deployment["coefficients"]}


def test_esg_lists_what_each_deployment_applied(
    make_gateway: GatewayFactory, mock_upstream: str, db_url: str
) -> None:
    gateway = _seed(make_gateway, mock_upstream, db_url)
    export = _esg(gateway).json()
    by_name = {d["deployment"]: d for d in export["deployments"]}
    # the failed call used no energy: its deployment and provider are not listed
    assert set(by_name) == {"azure-4o", "llama-local", "metered-8b"}
    azure = _coefficients(by_name["azure-4o"])
    assert (azure["pue"]["value"], azure["pue"]["origin"]) == (1.18, "declared")
    assert (azure["market"]["value"], azure["market"]["origin"]) == (40, "declared")
    assert (
        azure["wue_onsite"]["origin"] == "provider" and "EcoLogits" in azure["wue_onsite"]["source"]
    )
    assert azure["active_params"]["origin"] == "catalog"
    local = _coefficients(by_name["llama-local"])
    assert (local["pue"]["value"], local["pue"]["origin"]) == (1.4, "declared")
    assert (local["gpu"]["value"], local["gpus"]["value"], local["batch"]["value"]) == (
        "A100",
        4,
        16,
    )
    assert local["embodied_gpu"]["unit"] == "kgCO2e" and "A100" in local["embodied_gpu"]["source"]
    metered = _coefficients(by_name["metered-8b"])
    assert (metered["measured_out"]["value"], metered["measured_out"]["unit"]) == (
        0.0004,
        "Wh/token",
    )
    assert "host_share" not in metered and "host_share" in local
    # shares of the location-based total add up; the local deployment's is its own
    shares = [d["share_of_location_emissions"] for d in export["deployments"]]
    assert sum(shares) == pytest.approx(1.0, rel=1e-4)
    rows = fetch_rows(db_url)
    local_g = sum(r["emissions_gco2e"] for r in rows if r["deployment"] == "llama-local")
    assert by_name["llama-local"]["location_gco2e"] == pytest.approx(local_g, rel=1e-5)
    # the water split is exported and adds up
    t = export["totals"]
    assert t["water_onsite_l"] + t["water_offsite_l"] == pytest.approx(t["water_l"], rel=1e-4)


def test_esg_csv_has_a_unit_on_every_row(
    make_gateway: GatewayFactory, mock_upstream: str, db_url: str
) -> None:
    gateway = _seed(make_gateway, mock_upstream, db_url)
    text = _esg(gateway, "csv").text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows and all(r["unit"] for r in rows)
    pue = [r for r in rows if r["section"] == "coefficient" and r["name"] == "PUE"]
    assert {(r["deployment"], r["value"], r["origin"]) for r in pue} >= {
        ("azure-4o", "1.180", "declared"),
        ("llama-local", "1.400", "declared"),
    }
    # no float noise anywhere: at most 6 significant digits in any number
    for r in rows:
        digits = r["value"].replace("-", "").replace(".", "").lstrip("0")
        if digits.isdigit():
            assert len(digits.rstrip("0")) <= 6, r


def test_whatif_keeps_the_deployment_conditions(
    make_gateway: GatewayFactory, mock_upstream: str, db_url: str
) -> None:
    _seed(make_gateway, mock_upstream, db_url)
    env = {"WATTGATE_DATABASE_URL": db_url}
    out = CliRunner().invoke(
        cli,
        [
            "whatif",
            "--to",
            "meta-llama/Llama-3.1-8B-Instruct",
            "--format",
            "json",
            "--model",
            "meta-llama/Llama-3.1-70B-Instruct",
        ],
        env=env,
        obj={},
    )
    assert out.exit_code == 0, out.output
    [row] = [r for r in orjson.loads(out.output) if r["requests"] == 3]
    assert "declared: batch_size 16, gpu A100, pue 1.4" in row["held_constant"]
    assert "GPU count" in row["held_constant"]
    local = [r for r in fetch_rows(db_url) if r["deployment"] == "llama-local"]
    expected = sum(
        estimate(
            "meta-llama/Llama-3.1-8B-Instruct",
            input_tokens=r["input_tokens"],
            output_tokens=r["output_tokens"],
            provider="vllm",
            zone=r["grid_zone"],
            overrides=Overrides(gpu="A100", batch_size=16, pue=1.4),
        ).energy_wh.value
        for r in local
    )
    assert row["energy_wh_alternative"] == pytest.approx(expected, rel=1e-5)
