"""The shipped deployment scrapes /metrics the way the gateway accepts: Prometheus reads
the token from the secret docker compose mounts, and sends it as a bearer token."""

from __future__ import annotations

from pathlib import Path

import httpx
import yaml

from proxy.config import SETTINGS
from tests.integration.conftest import GatewayFactory

ROOT = Path(__file__).parents[2]


def test_prometheus_scrapes_with_the_metrics_token(
    make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    scrape = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())["scrape_configs"][0]
    auth = scrape["authorization"]
    assert auth["type"] == "Bearer"

    # The secret compose mounts into Prometheus is the file the scrape config reads, and it
    # holds the same variable the gateway takes its token from.
    (secret,) = compose["services"]["prometheus"]["secrets"]
    assert auth["credentials_file"] == f"/run/secrets/{secret}"
    variable = compose["secrets"][secret]["environment"]
    assert variable in SETTINGS and SETTINGS[variable][0] == "metrics_token"
    assert variable in compose["services"]["wattgate"]["environment"]
    assert scrape["static_configs"][0]["targets"] == ["wattgate:4000"]

    # Scrape a gateway as Prometheus would, with the token from the secret's file.
    token_file = tmp_path / secret
    token_file.write_text("scrape-token-123\n")
    gateway = make_gateway(**{variable: "scrape-token-123"})
    token = token_file.read_text().strip()  # Prometheus trims the file's whitespace
    response = httpx.get(
        gateway.url + scrape["metrics_path"],
        headers={"Authorization": f"{auth['type']} {token}"},
    )
    assert response.status_code == 200
    assert httpx.get(gateway.url + scrape["metrics_path"]).status_code == 401
