"""`wattgate serve` as a real subprocess, for tests that kill, restart or starve it.

`GatewayProcess(env)` starts `python -m proxy serve` with `env` on a free port and waits for
`/healthz`; `kill()` sends SIGKILL (no shutdown code runs), `stop()` SIGTERM (clean). A
load generator (`drive`) keeps plain and streamed chat calls going from several clients
until told to stop, and sorts every call by how it ended.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]


class GatewayProcess:
    def __init__(self, env: Mapping[str, str], *, log: Path, command: list[str] | None = None):
        """`command` prefixes the serve command (e.g. `unshare ...`); `log` gets its output."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.master_key = env.get("WATTGATE_MASTER_KEY")
        self._env = {**os.environ, **env, "WATTGATE_HOST": "127.0.0.1",
                     "WATTGATE_PORT": str(self.port)}
        self._command = [*(command or []), sys.executable, "-m", "proxy", "serve"]
        self._log = log
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, *, timeout: float = 60.0) -> GatewayProcess:
        """Start and wait until `/healthz` answers (start-up, migrations included, is done)."""
        with self._log.open("ab") as sink:
            self._process = subprocess.Popen(
                self._command, cwd=ROOT, env=self._env, stdout=sink, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while not self._answers("/healthz"):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"wattgate serve did not start:\n{self.log_tail()}")
            time.sleep(0.05)
        return self

    def kill(self) -> None:
        """SIGKILL: the process ends at once, as after an OOM kill or a crash."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait(30)

    def stop(self) -> None:
        """SIGTERM: a clean shutdown (queued usage is flushed)."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()
                raise

    def log_tail(self, chars: int = 4000) -> str:
        return self._log.read_text(errors="replace")[-chars:]

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.master_key}"}
        return httpx.request(method, self.url + path, headers=headers, timeout=10, **kwargs)

    def create_team_key(self, team: str) -> tuple[str, str]:
        """(key, key id) of a new key for `team` (created if missing)."""
        self.admin("POST", "/admin/teams", json={"name": team})
        response = self.admin("POST", "/admin/keys", json={"team": team})
        assert response.status_code == 201, response.text
        return str(response.json()["key"]), str(response.json()["key_id"])

    def readyz(self) -> tuple[int, dict[str, Any]]:
        """`/readyz` with its details (they need the master key)."""
        response = self.admin("GET", "/readyz")
        return response.status_code, response.json()

    def metric(self, name: str) -> float:
        """Sum of every sample of metric `name`."""
        text = self.admin("GET", "/metrics").text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith((name + " ", name + "{"))
        )

    def wait_until(self, predicate: Any, *, timeout: float = 60.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what or 'condition'} not met in {timeout} s:\n"
                                   f"{self.log_tail()}")
            time.sleep(0.1)

    def wait_stored(self, timeout: float = 60.0, *, status: str = "ok") -> None:
        """Until the database has every usage row: readiness `status` ("degraded" when the
        journal is meant to stay unwritable), nothing queued, nothing on disk only."""

        def stored() -> bool:
            code, body = self.readyz()
            return (code == 200 and body["status"] == status and body["usage_queue_rows"] == 0
                    and body["usage_spooled_rows"] == 0)

        self.wait_until(stored, timeout=timeout, what="usage rows stored")

    def _answers(self, path: str) -> bool:
        try:
            return httpx.get(self.url + path, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False


@dataclass
class Outcome:
    """Request ids of the calls a load run made, by how each ended for its client."""

    answered: set[str] = field(default_factory=set)  # complete 2xx answers (streams: [DONE])
    cut: set[str] = field(default_factory=set)  # streams that started (200) and broke off
    refused: set[str] = field(default_factory=set)  # complete answers with another status
    failed: int = 0  # no answer at all (connection refused or reset before the headers)


async def drive(
    url: str, key: str, stop: asyncio.Event, *, plain: int = 6, streams: int = 0,
    stream_model: str = "gpt-4o-mini",
) -> Outcome:
    """Run `plain` + `streams` clients against `url` until `stop` is set or the gateway dies."""
    outcome = Outcome()
    headers = {"Authorization": f"Bearer {key}"}
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(headers=headers, timeout=timeout) as session:
        clients = [_plain_client(session, url, stop, outcome) for _ in range(plain)]
        clients += [_stream_client(session, url, stop, outcome, stream_model)
                    for _ in range(streams)]
        await asyncio.gather(*clients)
    return outcome


async def _plain_client(
    session: aiohttp.ClientSession, url: str, stop: asyncio.Event, outcome: Outcome
) -> None:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello."}]}
    while not stop.is_set():
        try:
            async with session.post(url + "/v1/chat/completions", json=body) as response:
                await response.read()
                bucket = outcome.answered if response.status < 300 else outcome.refused
                bucket.add(response.headers["x-request-id"])
        except (TimeoutError, aiohttp.ClientError):
            outcome.failed += 1
            return  # the gateway is gone


async def _stream_client(
    session: aiohttp.ClientSession, url: str, stop: asyncio.Event, outcome: Outcome, model: str
) -> None:
    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": "Count."}]}
    while not stop.is_set():
        request_id = None
        try:
            async with session.post(url + "/v1/chat/completions", json=body) as response:
                request_id = response.headers["x-request-id"]
                data = await response.read()
                if response.status >= 300:
                    outcome.refused.add(request_id)
                elif data.rstrip().endswith(b"data: [DONE]"):
                    outcome.answered.add(request_id)
                else:
                    outcome.cut.add(request_id)
        except (TimeoutError, aiohttp.ClientError):
            if request_id is None:
                outcome.failed += 1
            else:
                outcome.cut.add(request_id)
            return
