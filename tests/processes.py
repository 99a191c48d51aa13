"""`wattgate` as a real process, for what only a process shows: start-up checks, what
reaches stderr, an installed package. Waits are generous: the machine may be busy."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from tests.servers import free_port

DEV_BIN = Path(sys.executable).parent  # the test run's own virtualenv


def clean_env(**env: str) -> dict[str, str]:
    """This process's environment without any `WATTGATE_*` variable, plus `env`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("WATTGATE_")}
    return {**base, **env}


def wattgate(
    *args: str, env: Mapping[str, str], cwd: Path, bin_dir: Path = DEV_BIN, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run one `wattgate` command to its end; stdout and stderr come back as text."""
    return subprocess.run(
        [str(bin_dir / "wattgate"), *args], env=dict(env), cwd=cwd, capture_output=True,
        text=True, timeout=timeout,
    )


class ServeProcess:
    """`wattgate serve` (or `mock-upstream`) in the background, output kept in a file."""

    def __init__(
        self, *args: str, env: Mapping[str, str], cwd: Path, bin_dir: Path = DEV_BIN,
        port: int | None = None, python: list[str] | None = None,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = cwd / f"wattgate-{self.port}.log"
        command = python or [str(bin_dir / "wattgate")]
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                [*command, *args, "--port", str(self.port)], env=dict(env), cwd=cwd,
                stdout=log, stderr=subprocess.STDOUT,
            )

    def wait_ready(self, path: str = "/healthz", timeout: float = 60) -> ServeProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"exited with {self.process.returncode}: {self.output()}")
            try:
                httpx.get(self.url + path, timeout=2)
                return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise TimeoutError(f"not ready in {timeout} s: {self.output()}")

    def stop(self) -> str:
        """SIGTERM (a clean shutdown), then everything it wrote."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.output()

    def output(self) -> str:
        return self.log_path.read_text()
