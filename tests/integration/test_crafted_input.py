"""Crafted input is a 400 (or 404) in OpenAI's error envelope, never a 500 or a logged
traceback, on SQLite and PostgreSQL alike (PostgreSQL refuses NUL in text)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from proxy.app import create_app
from proxy.config import Settings
from tests.integration.conftest import GatewayFactory
from tests.rows import fetch_rows
from tests.servers import Gateway

NUL = "%00"
LONG_NAME = "k" * 129  # the key-name column holds 128

CASES: list[tuple[str, str, Any, int, str | None]] = [
    # method, path, JSON body, expected status, expected `param`
    ("GET", "/admin/keys?team=nobody", None, 404, None),
    ("GET", "/admin/keys?team=", None, 400, "team"),
    ("GET", f"/admin/keys?team=sea{NUL}rch", None, 400, "team"),
    ("POST", "/admin/keys", {"team": "search", "name": LONG_NAME}, 400, "name"),
    ("POST", "/admin/keys", {"team": "search", "name": "ci\u0000bot"}, 400, "name"),
    ("POST", "/admin/keys", {"team": "sea\u0000rch"}, 400, "team"),
    ("POST", "/admin/keys", {"team": "nobody"}, 404, "team"),
    ("POST", "/admin/teams", {"name": "new\u0000team"}, 400, "name"),
    ("POST", "/admin/teams", {"name": ["search"]}, 400, "name"),
    ("DELETE", f"/admin/keys/key_{NUL}", None, 400, "key_id"),
    ("PUT", f"/admin/teams/sea{NUL}rch/budget", {}, 400, "name"),
    ("PUT", "/admin/teams/search/budget", {"hard_wh": False}, 400, "hard_wh"),
    ("GET", f"/admin/teams/sea{NUL}rch/budget", None, 400, "name"),
    ("GET", f"/v1/impacts/req_{NUL}", None, 400, "request_id"),
    ("GET", f"/v1/reports?team=sea{NUL}rch", None, 400, "team"),
    ("GET", f"/v1/reports?model=gpt{NUL}", None, 400, "model"),
    ("GET", f"/v1/reports?provider=open{NUL}ai", None, 400, "provider"),
    ("GET", f"/v1/reports?key=key_{NUL}", None, 400, "key"),
    ("GET", f"/v1/reports?month=2026-0{NUL}1", None, 400, "month"),
    ("GET", "/v1/reports?format=xml", None, 400, "format"),
    ("GET", f"/v1/reports?team={'t' * 1001}", None, 400, "team"),
    ("GET", f"/v1/whatif?alt=gpt-4o%3Dgpt{NUL}", None, 400, "alt.0"),
]


@pytest.fixture
def gateway(make_gateway: GatewayFactory, db_url: str) -> Gateway:
    gateway = make_gateway(database_url=db_url)
    gateway.create_team_key("search")
    return gateway


@pytest.fixture
def tracebacks(gateway: Gateway) -> Iterator[list[logging.LogRecord]]:
    """Log records with a traceback, from the gateway's server and from Wattgate (attached
    once the server has configured its loggers, which drops earlier handlers)."""
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.exc_info or record.levelno >= logging.ERROR:
                records.append(record)

    handler = Collect()
    loggers = [logging.getLogger(name) for name in ("uvicorn.error", "wattgate")]
    for logger in loggers:
        logger.addHandler(handler)
    yield records
    for logger in loggers:
        logger.removeHandler(handler)


def test_crafted_input_is_a_clean_client_error(
    gateway: Gateway, tracebacks: list[logging.LogRecord]
) -> None:
    for method, path, body, expected, param in CASES:
        response = gateway.admin(method, path, json=body)
        assert response.status_code == expected, (method, path, response.text)
        error = response.json()["error"]
        assert error["message"] and error["type"], (method, path)
        assert error["param"] == param, (method, path, error)
    assert gateway.admin("GET", "/admin/keys?team=search").status_code == 200
    assert not tracebacks, [r.getMessage() for r in tracebacks]


def test_team_keys_get_the_same_answers(
    gateway: Gateway, tracebacks: list[logging.LogRecord]
) -> None:
    key = gateway.create_team_key("support")
    headers = {"Authorization": f"Bearer {key}"}
    for path in (f"/v1/impacts/req_{NUL}", f"/v1/reports?model=gpt{NUL}"):
        response = httpx.get(gateway.url + path, headers=headers)
        assert response.status_code == 400, response.text
    assert not tracebacks, [r.getMessage() for r in tracebacks]


def test_a_call_naming_a_model_with_nul_is_still_recorded(
    gateway: Gateway, db_url: str, tracebacks: list[logging.LogRecord]
) -> None:
    """The call happened and was answered: its row must be stored on PostgreSQL too."""
    key = gateway.create_team_key("support")
    response = httpx.post(
        gateway.base_url + "/chat/completions",
        content=b'{"model": "gpt-4o\\u0000x", "messages": [{"role": "user", "content": "hi"}]}',
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    gateway.wait_written()
    rows = fetch_rows(db_url, n=1)
    assert [r["requested_model"] for r in rows] == ["gpt-4o\ufffdx"]
    assert gateway.app.runtime is not None and gateway.app.runtime.writer.rejected_rows == 0
    assert not tracebacks, [r.getMessage() for r in tracebacks]


def _strings(schema: dict[str, Any], components: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every string-typed (sub)schema a caller's value is checked against."""
    if "$ref" in schema:
        yield from _strings(components[schema["$ref"].rsplit("/", 1)[1]], components)
        return
    if schema.get("type") == "string":
        yield schema
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            yield from _strings(option, components)
    for sub in schema.get("properties", {}).values():
        yield from _strings(sub, components)
    if isinstance(schema.get("items"), dict):
        yield from _strings(schema["items"], components)


def test_no_string_input_goes_unconstrained() -> None:
    """Every string parameter and body field is bounded by a pattern, a length or a list of
    values: that is what keeps NUL and oversized values away from the database."""
    doc = create_app(Settings()).api.openapi()
    components = doc["components"]["schemas"]
    unconstrained = []
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            inputs = [p["schema"] for p in operation.get("parameters", [])]
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                inputs.append(body["schema"])
            for schema in inputs:
                for string in _strings(schema, components):
                    if not ({"pattern", "enum", "const"} & set(string)):
                        unconstrained.append((method, path, string))
    assert not unconstrained
