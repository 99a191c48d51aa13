from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from proxy.mock_upstream import MockOptions, create_mock_app
from tests.servers import Gateway, ServerThread, start_gateway

MASTER_KEY = "wg-test-master-key"


@pytest.fixture(scope="session")
def mock_upstream() -> Iterator[str]:
    """Base URL (…/v1) of an OpenAI- and Anthropic-compatible mock on loopback."""
    server = ServerThread(create_mock_app(MockOptions())).start()
    yield server.url + "/v1"
    server.stop()


GatewayFactory = Callable[..., Gateway]


def gateway_env(upstream: str, database_url: str, folder: Path,
                master_key: str | None = MASTER_KEY) -> dict[str, str]:
    """The environment of a test gateway on `upstream` (…/v1), its spool file in `folder`."""
    env = {
        "WATTGATE_DATABASE_URL": database_url,
        "WATTGATE_UPSTREAM_BASE_URL": upstream,
        "WATTGATE_UPSTREAM_API_KEY": "sk-upstream-secret",
        "WATTGATE_SPOOL_PATH": str(folder / "spool.jsonl"),
        "WATTGATE_KEY_CACHE_TTL_S": "0.5",
        # the mock upstream's behaviour switches, sent by tests with team keys
        "WATTGATE_FORWARD_HEADERS": "x-mock-*",
    }
    if master_key:
        env["WATTGATE_MASTER_KEY"] = master_key
    return env


@pytest.fixture
def make_gateway(mock_upstream: str, sqlite_url: str, tmp_path: Path) -> Iterator[GatewayFactory]:
    """Start Wattgates; each is stopped (cleanly, flushing usage) at the end of the test."""
    started: list[Gateway] = []

    def make(
        *,
        database_url: str | None = None,
        master_key: str | None = MASTER_KEY,
        config: str | None = None,
        **env: str,
    ) -> Gateway:
        base = gateway_env(mock_upstream, database_url or sqlite_url, tmp_path, master_key)
        config_path = None
        if config is not None:
            config_path = str(tmp_path / f"wattgate-{len(started)}.yaml")
            Path(config_path).write_text(config)
        gateway = start_gateway({**base, **env}, config_path=config_path)
        started.append(gateway)
        return gateway

    yield make
    for gateway in started:
        gateway.stop()


@pytest.fixture
def gateway(make_gateway: GatewayFactory) -> Gateway:
    return make_gateway()
