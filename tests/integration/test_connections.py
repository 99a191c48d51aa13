"""Connections are bounded and timed out: idle sockets cannot lock callers out, and slow
headers (slowloris), slow bodies and idle keep-alive connections are cut."""

from __future__ import annotations

import threading
import time

import httpx
import openai
import pytest

from proxy.server import ConnectionRegistry
from tests.integration.conftest import GatewayFactory
from tests.raw_http import connect, error, has_answer, is_closed, read_until_closed, status
from tests.servers import Gateway

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def registry(gateway: Gateway) -> ConnectionRegistry:
    return gateway.server.server.config.http_protocol_class.registry  # type: ignore[attr-defined]


def wait_for(condition: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def test_idle_connections_beyond_the_bound_make_room_for_real_calls(
    make_gateway: GatewayFactory,
) -> None:
    gateway = make_gateway(WATTGATE_MAX_CONNECTIONS="20", WATTGATE_KEEP_ALIVE_TIMEOUT_S="60")
    key = gateway.create_team_key("search")
    idle = [connect(gateway.server.port) for _ in range(100)]
    wait_for(lambda: sum(is_closed(s) for s in idle) >= 80)
    assert len(registry(gateway).open) <= 20

    client = openai.OpenAI(base_url=gateway.base_url, api_key=key, max_retries=0)
    completion = client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    assert completion.choices[0].message.content
    assert sum(not is_closed(s) for s in idle) <= 19  # the call's connection took a slot
    for sock in idle:
        sock.close()


def test_when_every_connection_is_busy_a_new_one_gets_503(make_gateway: GatewayFactory) -> None:
    gateway = make_gateway(WATTGATE_MAX_CONNECTIONS="3")
    key = gateway.create_team_key("search")
    headers = {"Authorization": f"Bearer {key}", "x-mock-latency-ms": "3000"}

    def slow_call() -> None:
        httpx.post(gateway.base_url + "/chat/completions", json=CHAT, headers=headers, timeout=30)

    callers = [threading.Thread(target=slow_call) for _ in range(3)]
    for caller in callers:
        caller.start()
    conns = registry(gateway)
    wait_for(lambda: len(conns.open) == 3 and not conns.waiting)
    sock = connect(gateway.server.port)
    answer = read_until_closed(sock)
    assert status(answer) == 503, answer[:200]
    assert error(answer)["code"] == "too_many_connections"
    for caller in callers:
        caller.join()
    # Once the calls are answered their connections are idle again, and give way.
    assert httpx.get(gateway.url + "/healthz").status_code == 200


def test_slow_headers_are_cut_at_the_header_timeout(make_gateway: GatewayFactory) -> None:
    """A slowloris client trickles header lines; the deadline runs from its first byte."""
    gateway = make_gateway(WATTGATE_HEADER_TIMEOUT_S="1")
    sock = connect(gateway.server.port)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n")
    for _ in range(300):  # 30 s of trickling if nobody stops it
        if has_answer(sock):
            break
        sock.sendall(b"X-Slow: 1\r\n")
        time.sleep(0.1)
    else:
        pytest.fail("slow headers were never cut")
    answer = read_until_closed(sock)
    sock.close()
    assert status(answer) == 408, answer[:200]
    assert error(answer) == {
        "message": "The request headers did not arrive within 1 s.",
        "type": "invalid_request_error",
        "param": None,
        "code": "request_timeout",
    }


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/admin/teams"])
def test_a_slow_body_is_cut_at_the_body_timeout(make_gateway: GatewayFactory, path: str) -> None:
    gateway = make_gateway(WATTGATE_BODY_TIMEOUT_S="1", master_key=None)
    sock = connect(gateway.server.port)
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000\r\n\r\n{".encode()
    )
    answer = read_until_closed(sock, timeout=30)
    sock.close()
    assert status(answer) == 408, answer[:200]
    assert "body did not arrive within 1 s" in error(answer)["message"]


def test_idle_connections_are_closed_after_the_keep_alive_timeout(
    make_gateway: GatewayFactory,
) -> None:
    gateway = make_gateway(WATTGATE_KEEP_ALIVE_TIMEOUT_S="1")
    silent = connect(gateway.server.port)  # never sends a byte
    used = connect(gateway.server.port)  # one request, then nothing
    used.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
    assert status(used.recv(65536)) == 200
    blank = connect(gateway.server.port)  # blank lines are not a request: no extension
    for _ in range(4):
        blank.sendall(b"\r\n")
        time.sleep(0.3)
    assert read_until_closed(silent, timeout=20) == b""  # closed, and without an answer
    wait_for(lambda: is_closed(silent) and is_closed(used) and is_closed(blank))
    for sock in (silent, used, blank):
        sock.close()


def test_a_long_call_is_not_cut_by_the_timeouts(make_gateway: GatewayFactory) -> None:
    """Deadlines cover receiving a request; answering it has the upstream timeouts."""
    gateway = make_gateway(
        WATTGATE_HEADER_TIMEOUT_S="0.5",
        WATTGATE_BODY_TIMEOUT_S="0.5",
        WATTGATE_KEEP_ALIVE_TIMEOUT_S="0.5",
    )
    key = gateway.create_team_key("search")
    response = httpx.post(
        gateway.base_url + "/chat/completions",
        json=CHAT,
        headers={"Authorization": f"Bearer {key}", "x-mock-latency-ms": "2000"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
