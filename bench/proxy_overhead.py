"""Proxy overhead: Wattgate's throughput and added latency over calling the mock directly.

Starts the mock upstream and `wattgate serve` on loopback, creates a team key through the
admin API, then drives both targets with wrk (bench/post.lua): requests/s at N connections
and p50/p99 latency at one connection, for plain and streaming chat. Every response must be
a 200 (streams must end with `data: [DONE]`) and the proxy's `wattgate_requests_total` must
have counted every request. See bench/README.md.

    .venv/bin/python bench/proxy_overhead.py --duration 10 --connections 16 [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LUA = ROOT / "bench" / "post.lua"
PROMPT = "Write one sentence about measuring the energy use of a language model call."
SCENARIOS = {
    "chat": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": PROMPT}]},
    "chat-stream": {
        "model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": PROMPT}],
    },
}


@dataclass(frozen=True)
class WrkResult:
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    failures: int  # socket errors + non-200 answers + streams without [DONE]
    first_failure: str


@dataclass(frozen=True)
class Row:
    scenario: str
    direct_rps: float
    proxy_rps: float
    direct_p50_ms: float
    proxy_p50_ms: float
    direct_p99_ms: float
    proxy_p99_ms: float
    proxy_cpu_us: float  # gateway CPU time (user + system, all threads) per request under load

    @property
    def added_p50_ms(self) -> float:
        return self.proxy_p50_ms - self.direct_p50_ms

    @property
    def added_p99_ms(self) -> float:
        return self.proxy_p99_ms - self.direct_p99_ms


def main() -> int:
    args = _parse_args()
    scenarios = ["chat"] if args.skip_streaming else list(SCENARIOS)
    with tempfile.TemporaryDirectory(prefix="wattgate-bench-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        mock_port, proxy_port = _free_port(), _free_port()
        mock = f"http://127.0.0.1:{mock_port}"
        proxy = f"http://127.0.0.1:{proxy_port}"
        master = "sk-master-" + secrets.token_hex(16)
        stack.enter_context(_process(
            [sys.executable, "-m", "proxy.mock_upstream", "--port", str(mock_port),
             "--output-tokens", str(args.output_tokens)],
            log=work / "mock.log", ready=f"{mock}/v1/models",
        ))
        env = {
            **os.environ,
            "WATTGATE_HOST": "127.0.0.1",
            "WATTGATE_PORT": str(proxy_port),
            "WATTGATE_UPSTREAM_BASE_URL": f"{mock}/v1",
            "WATTGATE_UPSTREAM_API_KEY": "sk-mock",
            "WATTGATE_MASTER_KEY": master,
            "WATTGATE_DATABASE_URL": args.database_url or f"sqlite+aiosqlite:///{work}/bench.db",
            "WATTGATE_SPOOL_PATH": str(work / "spool.jsonl"),
            "WATTGATE_LOG_LEVEL": "warning",
        }
        gateway = stack.enter_context(_process(
            shlex.split(args.proxy_cmd), log=work / "proxy.log", ready=f"{proxy}/readyz", env=env,
        ))
        _http("POST", f"{proxy}/admin/teams", master, {"name": "bench"})
        key = _http("POST", f"{proxy}/admin/keys", master, {"team": "bench"})["key"]

        before = _metric(proxy, master, "wattgate_requests_total")
        rows, proxied, failures = [], 0, []
        runs: dict[str, dict[str, dict[str, WrkResult]]] = {}
        for name in scenarios:
            body = work / f"{name}.json"
            body.write_text(json.dumps(SCENARIOS[name]))
            results: dict[str, tuple[WrkResult, WrkResult]] = {}
            for target, base, auth in (("direct", mock, "sk-mock"), ("proxy", proxy, key)):
                run = _Runner(f"{base}/v1/chat/completions", body, auth, name.endswith("stream"))
                warm = run(threads=args.threads, connections=args.connections, seconds=args.warmup)
                _settle(proxy, master)
                one = run(threads=1, connections=1, seconds=args.duration)
                cpu_before = _cpu_s(gateway.pid)
                load = run(threads=args.threads, connections=args.connections,
                           seconds=args.duration)
                _settle(proxy, master)  # the rows' writing counts too
                if target == "proxy":
                    cpu_us = (_cpu_s(gateway.pid) - cpu_before) / max(load.requests, 1) * 1e6
                for label, result in (("warmup", warm), ("load", load), ("c=1", one)):
                    if result.failures:
                        failures.append(f"{name}/{target}/{label}: {result.failures} failed, "
                                        f"first: {result.first_failure}")
                if target == "proxy":
                    proxied += warm.requests + load.requests + one.requests
                results[target] = (load, one)
                runs.setdefault(name, {})[target] = {"load": load, "c1": one}
            (d_load, d_one), (p_load, p_one) = results["direct"], results["proxy"]
            rows.append(Row(name, d_load.rps, p_load.rps, d_one.p50_ms, p_one.p50_ms,
                            d_one.p99_ms, p_one.p99_ms, cpu_us))
        counted = _wait_for_count(proxy, master, before + proxied) - before
        if counted < proxied:
            failures.append(f"/metrics counted {counted:.0f} proxied requests, wrk completed "
                            f"{proxied}")

    report = {
        "environment": _environment(args),
        "results": [{**asdict(r), "added_p50_ms": r.added_p50_ms,
                     "added_p99_ms": r.added_p99_ms} for r in rows],
        "runs": {name: {target: {kind: asdict(result) for kind, result in by_kind.items()}
                        for target, by_kind in by_target.items()}
                 for name, by_target in runs.items()},
        "proxied_requests": proxied,
        "metrics_counted": counted,
        "failures": failures,
    }
    print(json.dumps(report, indent=2) if args.json else _markdown(report, rows, args))
    return 1 if failures else 0


class _Runner:
    """One wrk target: URL, body and key; each call is one wrk run."""

    def __init__(self, url: str, body: Path, auth: str, stream: bool) -> None:
        self.url = url
        self.env = {**os.environ, "WG_BODY_FILE": str(body), "WG_AUTH": auth,
                    "WG_EXPECT_DONE": "1" if stream else "0"}

    def __call__(self, *, threads: int, connections: int, seconds: int) -> WrkResult:
        command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
                   "-s", str(LUA), self.url]
        out = subprocess.run(command, env=self.env, capture_output=True, text=True, check=True)
        line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
        if line is None:
            raise RuntimeError(f"wrk printed no summary:\n{out.stdout}\n{out.stderr}")
        s = json.loads(line.removeprefix("WRK_JSON "))
        return WrkResult(
            requests=s["requests"],
            rps=s["requests"] / (s["duration_us"] / 1e6),
            p50_ms=s["p50_us"] / 1000,
            p99_ms=s["p99_us"] / 1000,
            max_ms=s["max_us"] / 1000,
            failures=s["socket_errors"] + max(s["bad"], s["non_2xx"]),
            first_failure=s["first_bad"],
        )


@contextmanager
def _process(
    command: list[str], *, log: Path, ready: str, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server until the block ends; fail with its log if it never answers `ready`."""
    with log.open("wb") as sink:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=sink, stderr=sink)
        try:
            deadline = time.monotonic() + 60
            while not _answers(ready):
                if process.poll() is not None or time.monotonic() > deadline:
                    tail = log.read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"{shlex.join(command)} did not become ready:\n{tail}")
                time.sleep(0.1)
            yield process
        finally:
            process.terminate()  # SIGTERM: uvicorn shuts down gracefully, flushing usage rows
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return bool(reply.status == 200)
    except OSError:  # refused, or an HTTP error status (urllib raises both as OSError)
        return False


def _http(method: str, url: str, bearer: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {bearer}", "Content-Type": "application/json",
    })
    with urllib.request.urlopen(request, timeout=10) as reply:
        raw = reply.read()
    return json.loads(raw) if reply.headers.get_content_type() == "application/json" else raw


def _metric(proxy: str, master: str, name: str) -> float:
    """Sum of every sample of metric `name`, whatever its labels."""
    text = _http("GET", f"{proxy}/metrics", master).decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith((name + " ", name + "{"))
    )


def _wait_for_count(proxy: str, master: str, expected: float) -> float:
    """Metrics may trail the responses by a moment (recording happens after the reply)."""
    deadline = time.monotonic() + 10
    while (
        counted := _metric(proxy, master, "wattgate_requests_total")
    ) < expected and time.monotonic() < deadline:
        time.sleep(0.2)
    return counted


def _settle(proxy: str, master: str) -> None:
    """Wait for the usage writer to drain what the last load run queued.

    Otherwise the next run (the one-connection latency run above all) is measured while
    the proxy is still writing the previous run's rows, on the same CPUs.
    """
    deadline = time.monotonic() + 60
    while _metric(proxy, master, "wattgate_usage_queue_rows") > 0 and time.monotonic() < deadline:
        time.sleep(0.2)


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system, every thread) process `pid` has used; NaN off Linux."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _environment(args: argparse.Namespace) -> dict[str, Any]:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    return {
        "commit": commit or "unknown",
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "wrk": (wrk.stdout or wrk.stderr).split(" [", 1)[0].strip(),  # "wrk debian/4.1.0-3+b2"
        "database": (args.database_url or "sqlite").split(":", 1)[0],
        "duration_s": args.duration,
        "connections": args.connections,
        "threads": args.threads,
        "mock_output_tokens": args.output_tokens,
    }


def _markdown(report: dict[str, Any], rows: list[Row], args: argparse.Namespace) -> str:
    env = report["environment"]
    lines = [
        f"Proxy overhead @ {env['commit']} ({env['cpus']} CPUs, Python {env['python']}, "
        f"{env['wrk']}, {env['database']}, {args.duration}s runs, "
        f"{env['mock_output_tokens']} output tokens)",
        "",
        f"| scenario | direct req/s @{args.connections}c | proxy req/s @{args.connections}c "
        "| direct p50 ms @1c | proxy p50 ms @1c | added p50 ms "
        "| direct p99 ms @1c | proxy p99 ms @1c | added p99 ms | proxy CPU µs/request |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.scenario} | {r.direct_rps:,.0f} | {r.proxy_rps:,.0f} | {r.direct_p50_ms:.3f} "
        f"| {r.proxy_p50_ms:.3f} | {r.added_p50_ms:.3f} | {r.direct_p99_ms:.3f} "
        f"| {r.proxy_p99_ms:.3f} | {r.added_p99_ms:.3f} | {r.proxy_cpu_us:.0f} |"
        for r in rows
    ]
    lines += ["", f"Proxied requests: {report['proxied_requests']} completed by wrk, "
              f"{report['metrics_counted']:.0f} counted in wattgate_requests_total."]
    lines += [f"FAILED: {failure}" for failure in report["failures"]] or ["All responses OK."]
    return "\n".join(lines)


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of load before each (>=1)")
    parser.add_argument("--connections", type=int, default=16, help="connections for req/s")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads for req/s")
    parser.add_argument("--output-tokens", type=int, default=20, help="mock completion size")
    parser.add_argument("--database-url", help="e.g. postgresql+asyncpg://... (default: SQLite)")
    parser.add_argument("--skip-streaming", action="store_true", help="plain chat only")
    parser.add_argument("--proxy-cmd", default=f"{shlex.quote(sys.executable)} -m proxy serve",
                        help="command that starts the proxy (reads WATTGATE_* env)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(main())
