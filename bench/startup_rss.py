"""Start-up time and memory of `wattgate serve`, OpenAI-only vs with a litellm-backed deployment.

    .venv/bin/python bench/startup_rss.py [--runs 3]

Each run starts the mock upstream and a fresh gateway (SQLite in a temporary folder),
times until `/healthz` answers, reads the process's resident memory (VmRSS), then sends
21 chat calls and reads it again. litellm is only imported when a deployment needs it,
so the OpenAI-only figures must not move when it is installed.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

CONFIG_LITELLM = """
models:
  - name: claude-haiku
    provider: anthropic
    base_url: http://127.0.0.1:{mock}
    upstream_model: claude-haiku-4-5
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def chat(base: str, model: str) -> float:
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}]}).encode()
    request = urllib.request.Request(
        f"{base}/v1/chat/completions",
        data=body,
        headers={"content-type": "application/json", "authorization": "Bearer sk-caller"},
    )
    start = time.perf_counter()
    urllib.request.urlopen(request, timeout=60).read()
    return time.perf_counter() - start


def one_run(mock_port: int, with_litellm: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = {
            **os.environ,
            "WATTGATE_PORT": str(port),
            "WATTGATE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/w.db",
            "WATTGATE_SPOOL_PATH": f"{tmp}/spool.jsonl",
            "WATTGATE_UPSTREAM_BASE_URL": f"http://127.0.0.1:{mock_port}/v1",
            "WATTGATE_LOG_LEVEL": "warning",
        }
        model = "gpt-4o-mini"
        if with_litellm:
            config = Path(tmp) / "wattgate.yaml"
            config.write_text(CONFIG_LITELLM.format(mock=mock_port))
            env["WATTGATE_CONFIG"] = str(config)
            model = "claude-haiku"
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "proxy", "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_http(f"http://127.0.0.1:{port}/healthz")
            ready = time.perf_counter() - start
            rss_ready = rss_mib(proc.pid)
            first = chat(f"http://127.0.0.1:{port}", model)
            for _ in range(20):
                chat(f"http://127.0.0.1:{port}", model)
            return {
                "ready_s": ready,
                "rss_ready_mib": rss_ready,
                "first_call_s": first,
                "rss_after_mib": rss_mib(proc.pid),
            }
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    mock_port = free_port()
    mock = subprocess.Popen(
        [sys.executable, "-m", "proxy.mock_upstream", "--port", str(mock_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{mock_port}/v1/models")
        print(
            "| configuration | ready s | RSS at ready MiB | first call s | RSS after 21 calls MiB |"
        )
        print("|---|---:|---:|---:|---:|")
        for label, flag in (("OpenAI-only", False), ("one litellm-backed deployment", True)):
            runs = [one_run(mock_port, flag) for _ in range(args.runs)]
            med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            print(
                f"| {label} | {med['ready_s']:.2f} | {med['rss_ready_mib']:.0f} | "
                f"{med['first_call_s']:.2f} | {med['rss_after_mib']:.0f} |"
            )
    finally:
        mock.terminate()
        mock.wait(timeout=10)


if __name__ == "__main__":
    main()
