"""/metrics, /readyz details, /openapi.json and /docs are not public: team usage and the
API's surface are for the operator's keys only."""

from __future__ import annotations

from types import SimpleNamespace

import httpx
import pytest
from starlette.requests import Request

from proxy.config import Settings
from proxy.errors import PermissionDenied
from proxy.routes.deps import metrics_reader_error
from tests.integration.conftest import MASTER_KEY, GatewayFactory
from tests.servers import Gateway

METRICS_TOKEN = "metrics-scraper-token"


def get(gateway: Gateway, path: str, key: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.get(gateway.url + path, headers=headers, timeout=10)


@pytest.fixture
def gateway(make_gateway: GatewayFactory) -> Gateway:
    return make_gateway(WATTGATE_METRICS_TOKEN=METRICS_TOKEN)


def test_metrics_need_the_metrics_token_or_the_master_key(gateway: Gateway) -> None:
    team_key = gateway.create_team_key("search")
    assert get(gateway, "/metrics").status_code == 401
    assert get(gateway, "/metrics").json()["error"]["type"] == "authentication_error"
    assert get(gateway, "/metrics", "wrong-token").status_code == 403
    assert get(gateway, "/metrics", team_key).status_code == 403
    for key in (METRICS_TOKEN, MASTER_KEY):
        response = get(gateway, "/metrics", key)
        assert response.status_code == 200
        assert "wattgate_" in response.text
        assert response.headers["content-type"].startswith("text/plain")


def test_metrics_token_works_without_a_master_key(make_gateway: GatewayFactory) -> None:
    gateway = make_gateway(master_key=None, WATTGATE_METRICS_TOKEN=METRICS_TOKEN)
    assert get(gateway, "/metrics").status_code == 401
    assert get(gateway, "/metrics", METRICS_TOKEN).status_code == 200


def test_open_mode_without_a_token_serves_metrics_to_local_clients(
    make_gateway: GatewayFactory,
) -> None:
    gateway = make_gateway(master_key=None)
    assert get(gateway, "/metrics").status_code == 200


def test_metrics_need_the_master_key_when_no_token_is_set(make_gateway: GatewayFactory) -> None:
    gateway = make_gateway()
    assert get(gateway, "/metrics").status_code == 401
    assert get(gateway, "/metrics", METRICS_TOKEN).status_code == 403
    assert get(gateway, "/metrics", MASTER_KEY).status_code == 200


def test_readyz_is_terse_without_credentials(gateway: Gateway) -> None:
    team_key = gateway.create_team_key("search")
    for key in (None, team_key, "wrong-token"):
        response = get(gateway, "/readyz", key)
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}
    for key in (METRICS_TOKEN, MASTER_KEY):
        detail = get(gateway, "/readyz", key).json()
        assert detail["status"] == "ok" and detail["database"] == "ok"
        assert "usage_queue_rows" in detail


@pytest.mark.parametrize("path", ["/openapi.json", "/docs"])
def test_api_docs_need_the_master_key(gateway: Gateway, path: str) -> None:
    team_key = gateway.create_team_key("search")
    assert get(gateway, path).status_code == 401
    assert get(gateway, path, team_key).status_code == 403
    assert get(gateway, path, METRICS_TOKEN).status_code == 403
    response = get(gateway, path, MASTER_KEY)
    assert response.status_code == 200
    if path == "/openapi.json":
        paths = response.json()["paths"]
        assert "/admin/keys" in paths and "/v1/reports" in paths
    else:
        assert "swagger-ui" in response.text and "/openapi.json" in response.text


def test_api_docs_answer_local_clients_in_open_mode(make_gateway: GatewayFactory) -> None:
    gateway = make_gateway(master_key=None)
    assert get(gateway, "/openapi.json").status_code == 200
    assert get(gateway, "/docs").status_code == 200


@pytest.mark.parametrize("token", [None, METRICS_TOKEN])
def test_open_mode_refuses_remote_clients_without_the_token(token: str | None) -> None:
    """Loopback is all a test server can be reached from, so the check is called directly."""
    settings = Settings(metrics_token=token)
    remote = Request({"type": "http", "client": ("10.1.2.3", 40000), "headers": []})
    local = Request({"type": "http", "client": ("127.0.0.1", 40000), "headers": []})
    with_token = Request(
        {
            "type": "http",
            "client": ("10.1.2.3", 40000),
            "headers": [(b"authorization", f"Bearer {METRICS_TOKEN}".encode())],
        }
    )
    rt = SimpleNamespace(settings=settings)
    if token is None:
        assert isinstance(metrics_reader_error(remote, rt), PermissionDenied)  # type: ignore[arg-type]
        assert metrics_reader_error(local, rt) is None  # type: ignore[arg-type]
    else:
        assert metrics_reader_error(local, rt) is not None  # type: ignore[arg-type]
        assert metrics_reader_error(with_token, rt) is None  # type: ignore[arg-type]
