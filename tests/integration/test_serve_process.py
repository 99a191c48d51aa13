"""`wattgate serve` as a real process under a small open-file limit: idle sockets cannot
starve real calls, and refused uploads cost no memory."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest

from tests.integration.conftest import MASTER_KEY
from tests.raw_http import connect, error, is_closed, status, upload_until_answered
from tests.servers import free_port

OPEN_FILES = 256  # soft and hard: `wattgate serve` cannot raise it
CAP = (OPEN_FILES - 64) // 2  # what proxy.server.connection_cap allows under it


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    url: str
    port: int
    log: Path

    def rss_bytes(self) -> int:
        """Resident memory of the gateway process (Linux /proc)."""
        status_ = Path(f"/proc/{self.process.pid}/status").read_text()
        kib = next(line for line in status_.splitlines() if line.startswith("VmRSS:")).split()[1]
        return int(kib) * 1024


def _limit_open_files() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES, OPEN_FILES))


@pytest.fixture(scope="module")
def served(mock_upstream: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    work = tmp_path_factory.mktemp("serve")
    port = free_port()
    env = {
        **os.environ,
        "WATTGATE_DATABASE_URL": f"sqlite+aiosqlite:///{work / 'wattgate.db'}",
        "WATTGATE_UPSTREAM_BASE_URL": mock_upstream,
        "WATTGATE_UPSTREAM_API_KEY": "sk-upstream-secret",
        "WATTGATE_MASTER_KEY": MASTER_KEY,
        "WATTGATE_SPOOL_PATH": str(work / "spool.jsonl"),
        "WATTGATE_KEEP_ALIVE_TIMEOUT_S": "60",
    }
    log = work / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "proxy", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_limit_open_files,
            cwd=Path(__file__).parents[2],
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url + "/healthz").status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "wattgate serve did not start"
        time.sleep(0.1)
    yield Served(process=process, url=url, port=port, log=log)
    process.terminate()
    process.wait(20)


def test_the_connection_bound_follows_the_open_file_limit(served: Served) -> None:
    assert f"keeping at most {CAP} connections" in served.log.read_text()


def test_idle_sockets_beyond_the_descriptor_limit_do_not_starve_calls(served: Served) -> None:
    headers = {"Authorization": f"Bearer {MASTER_KEY}"}
    httpx.post(served.url + "/admin/teams", json={"name": "search"}, headers=headers)
    key = httpx.post(served.url + "/admin/keys", json={"team": "search"}, headers=headers)
    client = openai.OpenAI(
        base_url=served.url + "/v1", api_key=key.json()["key"], max_retries=0, timeout=30
    )

    idle = [connect(served.port) for _ in range(4 * OPEN_FILES)]
    deadline = time.monotonic() + 30
    while sum(not is_closed(s) for s in idle) > CAP:
        assert time.monotonic() < deadline, "idle sockets beyond the bound were kept"
        time.sleep(0.1)
    for _ in range(3):
        completion = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
        assert completion.choices[0].message.content
    for sock in idle:
        sock.close()
    assert served.process.poll() is None


def test_unauthenticated_uploads_are_refused_without_being_read(served: Served) -> None:
    """Four 200 MB uploads without a key, sent as fast as the server takes them."""
    before = served.rss_bytes()
    answers: list[bytes] = []

    def upload() -> None:
        sock = connect(served.port)
        head = (
            "POST /admin/teams HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            f"Content-Length: {200 * 1024 * 1024}\r\n\r\n"
        ).encode()
        answers.append(upload_until_answered(sock, head, b" " * 65536, 200 * 1024 * 1024))
        sock.close()

    uploads = [threading.Thread(target=upload) for _ in range(4)]
    for thread in uploads:
        thread.start()
    for thread in uploads:
        thread.join(60)
    assert [status(a) for a in answers] == [401] * 4
    assert all(error(a)["type"] == "authentication_error" for a in answers)
    growth = served.rss_bytes() - before
    assert growth < 50 * 1024 * 1024, f"RSS grew {growth / 2**20:.0f} MiB"
