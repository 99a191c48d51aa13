"""Real servers on loopback for tests: uvicorn in a background thread, on a free port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn

from proxy.app import WattgateApp, create_app
from proxy.config import Settings, load_settings
from proxy.server import uvicorn_config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerThread:
    """Runs an ASGI app under uvicorn (httptools, lifespan on) until `stop()`."""

    def __init__(self, app: Any, port: int | None = None, settings: Settings | None = None) -> None:
        """With `settings`, the server is the one `wattgate serve` builds (bounds, timeouts)."""
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        if settings is not None:
            config = uvicorn_config(
                app, settings, host="127.0.0.1", port=self.port, loop="asyncio", log_level="warning"
            )
        else:
            config = uvicorn.Config(
                app,
                host="127.0.0.1",
                port=self.port,
                loop="asyncio",
                http="httptools",
                lifespan="on",
                log_level="warning",
                access_log=False,
            )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("server exited during start-up")
            if time.monotonic() > deadline:
                raise TimeoutError("server did not start in 20 s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


@dataclass
class Gateway:
    """A running Wattgate with its settings and admin helpers."""

    server: ServerThread
    app: WattgateApp
    master_key: str | None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def base_url(self) -> str:
        return self.server.url + "/v1"

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.master_key}"} if self.master_key else {}
        return httpx.request(method, self.url + path, headers=headers, timeout=10, **kwargs)

    def create_team_key(self, team: str) -> str:
        response = self.admin("POST", "/admin/teams", json={"name": team})
        assert response.status_code in (201, 409), response.text
        response = self.admin("POST", "/admin/keys", json={"team": team})
        assert response.status_code == 201, response.text
        return str(response.json()["key"])

    def wait_written(self, timeout: float = 10.0) -> None:
        """Block until every usage event recorded so far is in the database."""
        runtime = self.app.runtime
        assert runtime is not None
        deadline = time.monotonic() + timeout
        time.sleep(0.01)  # let the event loop take what was just recorded
        while not runtime.writer.idle:
            if time.monotonic() > deadline:
                raise TimeoutError("usage rows were not written in time")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.stop()


def start_gateway(env: Mapping[str, str], config_path: str | None = None) -> Gateway:
    settings = load_settings(env=dict(env), config_path=config_path)
    app = create_app(settings)
    port = settings.port if "WATTGATE_PORT" in env else None
    server = ServerThread(app, port=port, settings=settings).start()
    return Gateway(server=server, app=app, master_key=settings.master_key, env=dict(env))
