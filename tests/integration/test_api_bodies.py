"""The API side (admin, budgets, reports, ...) checks the key before reading a body, and
never reads one past WATTGATE_MAX_BODY_BYTES: a refusal arrives before the body is sent."""

from __future__ import annotations

import pytest

from tests.integration.conftest import MASTER_KEY, GatewayFactory
from tests.raw_http import (
    connect,
    error,
    header,
    read_until_closed,
    status,
    upload_until_answered,
)
from tests.servers import Gateway

HUGE = 200 * 1024 * 1024  # announced, never sent

ROUTES = [
    ("POST", "/admin/teams"),
    ("POST", "/admin/keys"),
    ("PUT", "/admin/teams/search/budget"),
    ("GET", "/v1/reports"),
    ("POST", "/v1/budgets"),
    ("POST", "/dashboard"),
]


def announce(gateway: Gateway, method: str, path: str, *headers: str) -> bytes:
    """Send only a request's head, announcing a 200 MB body; return the server's answer."""
    sock = connect(gateway.server.port)
    lines = [f"{method} {path} HTTP/1.1", "Host: test", "Content-Type: application/json"]
    lines += [f"Content-Length: {HUGE}", *headers]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    try:
        return read_until_closed(sock)
    finally:
        sock.close()


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_a_body_without_a_key_is_refused_before_it_is_sent(
    gateway: Gateway, method: str, path: str
) -> None:
    answer = announce(gateway, method, path, "Expect: 100-continue")
    assert status(answer) == 401, answer[:300]
    assert b"100 Continue" not in answer  # the client was never invited to upload
    assert header(answer, "connection") == "close"
    assert header(answer, "x-request-id")
    assert error(answer)["type"] == "authentication_error"


def test_a_body_with_an_unknown_key_is_refused_before_it_is_sent(gateway: Gateway) -> None:
    answer = announce(gateway, "POST", "/admin/teams", "Authorization: Bearer wg-not-a-key")
    assert status(answer) == 401, answer[:300]
    assert error(answer)["code"] == "invalid_api_key"


def test_a_declared_body_over_the_limit_is_413_before_it_is_sent(gateway: Gateway) -> None:
    answer = announce(gateway, "POST", "/admin/teams", f"Authorization: Bearer {MASTER_KEY}")
    assert status(answer) == 413, answer[:300]
    assert error(answer)["code"] == "payload_too_large"
    assert header(answer, "connection") == "close"


def test_a_streamed_body_is_cut_at_the_limit(make_gateway: GatewayFactory) -> None:
    """Chunked uploads announce no length: the bytes are counted, and reading stops at the
    limit although the client goes on sending."""
    gateway = make_gateway(WATTGATE_MAX_BODY_BYTES="65536")
    sock = connect(gateway.server.port)
    head = (
        "POST /admin/teams HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {MASTER_KEY}\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    chunk = b"4000\r\n" + b" " * 0x4000 + b"\r\n"
    answer = upload_until_answered(sock, head, chunk, total=64 * 1024 * 1024)
    sock.close()
    assert status(answer) == 413, answer[:300]
    assert "65536-byte limit" in error(answer)["message"]


def test_bodies_within_the_limit_still_work(make_gateway: GatewayFactory) -> None:
    gateway = make_gateway(WATTGATE_MAX_BODY_BYTES="1024")
    assert gateway.admin("POST", "/admin/teams", json={"name": "search"}).status_code == 201
    padded = {"name": "support", "pad": " " * 2000}
    response = gateway.admin("POST", "/admin/teams", json=padded)
    assert response.status_code == 413
    assert gateway.admin("GET", "/admin/teams").json()[-1]["name"] == "search"
