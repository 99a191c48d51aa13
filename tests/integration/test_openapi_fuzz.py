"""Schemathesis against the API's own OpenAPI schema, on SQLite and PostgreSQL: generated
and mutated input (NUL, huge strings, wrong types, unknown ids, undeclared methods) never
gives a server error, and every answer matches the schema (status, content type, body).

Bounded and reproducible: a fixed seed, a fixed number of examples per operation, one
worker. Reproduce a run with the command printed on failure.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import orjson
import pytest

from tests.integration.conftest import MASTER_KEY, GatewayFactory

CONFIG = Path(__file__).parents[1] / "schemathesis.toml"
SEED = 20240601
EXAMPLES = 30  # per operation and phase; the whole run takes seconds


def run_schemathesis(schema: Path, base_url: str, key: str) -> subprocess.CompletedProcess[str]:
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(CONFIG),
        "run",
        str(schema),
        "--url",
        base_url,
        "--header",
        f"Authorization: Bearer {key}",
        "--checks",
        "all",
        "--seed",
        str(SEED),
        "--max-examples",
        str(EXAMPLES),
        "--workers",
        "1",
        "--request-timeout",
        "20",
        "--no-color",
    ]
    # Run from the schema's folder: schemathesis keeps a cache (.schemathesis/) where it runs.
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=schema.parent)


@pytest.mark.parametrize("caller", ["master key", "team key"])
def test_no_server_errors_and_no_schema_violations(
    make_gateway: GatewayFactory, db_url: str, caller: str, tmp_path: Path
) -> None:
    gateway = make_gateway(database_url=db_url)
    key = gateway.create_team_key("search")
    call = httpx.post(
        gateway.base_url + "/chat/completions",
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert call.status_code == 200
    schema = tmp_path / "openapi.json"
    schema.write_bytes(gateway.admin("GET", "/openapi.json").content)  # the master key's
    operations = sum(len(ops) for ops in orjson.loads(schema.read_bytes())["paths"].values())
    done = run_schemathesis(schema, gateway.url, MASTER_KEY if caller == "master key" else key)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert f"Tested: {operations}" in done.stdout, done.stdout[-3000:]
