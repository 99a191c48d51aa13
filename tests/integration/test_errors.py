"""Failures: every error is OpenAI-shaped, has a meaningful status and an x-request-id."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from tests.integration.conftest import GatewayFactory
from tests.integration.test_openai_sdk import client_for
from tests.servers import Gateway, free_port

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


def assert_openai_error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["x-request-id"]
    error = response.json()["error"]
    assert error["message"] and error["type"]
    assert set(error) >= {"message", "type", "code", "param"}
    return error


@pytest.mark.parametrize("status", [400, 429, 500, 503])
def test_upstream_errors_pass_through(gateway: Gateway, status: int) -> None:
    key = gateway.create_team_key("search")
    response = httpx.post(
        gateway.base_url + "/chat/completions",
        json=CHAT,
        headers={"Authorization": f"Bearer {key}", "x-mock-status": str(status)},
    )
    assert response.status_code == status
    assert response.json()["error"]["message"]
    assert response.headers["x-request-id"]
    assert "x-energy-wh" not in response.headers


def test_sdk_sees_upstream_error_types(gateway: Gateway) -> None:
    client = client_for(gateway)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(**CHAT, extra_headers={"x-mock-status": "429"})
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(**CHAT, extra_headers={"x-mock-status": "500"})


def test_unreachable_upstream_is_502(make_gateway: GatewayFactory) -> None:
    gateway = make_gateway(WATTGATE_UPSTREAM_BASE_URL=f"http://127.0.0.1:{free_port()}/v1")
    key = gateway.create_team_key("search")
    response = httpx.post(
        gateway.base_url + "/chat/completions",
        json=CHAT,
        headers={"Authorization": f"Bearer {key}"},
    )
    error = assert_openai_error(response, 502)
    assert error["code"] == "upstream_unreachable"


def test_upstream_timeout_is_504(make_gateway: GatewayFactory) -> None:
    gateway = make_gateway(WATTGATE_UPSTREAM_TIMEOUT_S="0.3")
    key = gateway.create_team_key("search")
    response = httpx.post(
        gateway.base_url + "/chat/completions",
        json=CHAT,
        timeout=10,
        headers={"Authorization": f"Bearer {key}", "x-mock-latency-ms": "2000"},
    )
    error = assert_openai_error(response, 504)
    assert error["code"] == "upstream_timeout"


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b""])
def test_malformed_body_is_400(gateway: Gateway, body: bytes) -> None:
    key = gateway.create_team_key("search")
    response = httpx.post(
        gateway.base_url + "/chat/completions",
        content=body,
        headers={"Authorization": f"Bearer {key}", "content-type": "application/json"},
    )
    error = assert_openai_error(response, 400)
    assert error["type"] == "invalid_request_error"


def test_non_string_model_is_400(gateway: Gateway) -> None:
    key = gateway.create_team_key("search")
    response = httpx.post(
        gateway.base_url + "/chat/completions",
        json={**CHAT, "model": 42},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert assert_openai_error(response, 400)["param"] == "model"


def test_oversized_body_is_413(make_gateway: GatewayFactory) -> None:
    gateway = make_gateway(WATTGATE_MAX_BODY_BYTES="1000")
    key = gateway.create_team_key("search")
    big = {**CHAT, "messages": [{"role": "user", "content": "x" * 5000}]}
    response = httpx.post(
        gateway.base_url + "/chat/completions", json=big, headers={"Authorization": f"Bearer {key}"}
    )
    assert_openai_error(response, 413)


def test_missing_and_unknown_keys_are_401(gateway: Gateway) -> None:
    response = httpx.post(gateway.base_url + "/chat/completions", json=CHAT)
    assert_openai_error(response, 401)
    response = httpx.post(
        gateway.base_url + "/chat/completions",
        json=CHAT,
        headers={"Authorization": "Bearer wg-not-a-key"},
    )
    assert_openai_error(response, 401)
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(
            base_url=gateway.base_url, api_key="wg-nope", max_retries=0
        ).chat.completions.create(**CHAT)


def test_revoked_key_is_401(gateway: Gateway) -> None:
    gateway.admin("POST", "/admin/teams", json={"name": "search"})
    created = gateway.admin("POST", "/admin/keys", json={"team": "search"}).json()
    headers = {"Authorization": f"Bearer {created['key']}"}
    assert (
        httpx.post(gateway.base_url + "/chat/completions", json=CHAT, headers=headers).status_code
        == 200
    )
    assert gateway.admin("DELETE", f"/admin/keys/{created['key_id']}").status_code == 200
    assert_openai_error(
        httpx.post(gateway.base_url + "/chat/completions", json=CHAT, headers=headers), 401
    )
    assert gateway.admin("DELETE", f"/admin/keys/{created['key_id']}").status_code == 404


def test_key_revoked_elsewhere_stops_within_cache_ttl(
    make_gateway: GatewayFactory, sqlite_url: str
) -> None:
    """Two replicas share a database; a revocation on one reaches the other."""
    first = make_gateway()
    second = make_gateway(database_url=sqlite_url)
    first.admin("POST", "/admin/teams", json={"name": "search"})
    created = first.admin("POST", "/admin/keys", json={"team": "search"}).json()
    headers = {"Authorization": f"Bearer {created['key']}"}
    assert (
        httpx.post(second.base_url + "/chat/completions", json=CHAT, headers=headers).status_code
        == 200
    )
    first.admin("DELETE", f"/admin/keys/{created['key_id']}")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        status = httpx.post(
            second.base_url + "/chat/completions", json=CHAT, headers=headers
        ).status_code
        if status == 401:
            break
        time.sleep(0.1)
    assert status == 401


def test_admin_api_needs_master_key(gateway: Gateway) -> None:
    key = gateway.create_team_key("search")
    response = httpx.get(gateway.url + "/admin/teams", headers={"Authorization": f"Bearer {key}"})
    assert_openai_error(response, 403)
    assert_openai_error(httpx.get(gateway.url + "/admin/teams"), 401)
    error = assert_openai_error(gateway.admin("POST", "/admin/keys", json={"team": "nope"}), 404)
    assert "does not exist" in error["message"] and error["param"] == "team"
    error = assert_openai_error(gateway.admin("POST", "/admin/teams", json={"name": "search"}), 409)
    assert error["code"] == "already_exists"
    assert_openai_error(gateway.admin("POST", "/admin/teams", json={"name": "bad name!"}), 400)
    assert_openai_error(gateway.admin("POST", "/admin/teams", json={}), 400)
