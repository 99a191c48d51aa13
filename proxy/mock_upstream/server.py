"""Serving the mock: a tuned uvicorn (uvloop, httptools, no access log) and the CLI entry."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import uvicorn

from .app import MockUpstream
from .options import MockOptions


def create_mock_app(options: MockOptions | None = None) -> MockUpstream:
    return MockUpstream(options or MockOptions())


def serve(host: str, port: int, options: MockOptions) -> None:
    """Serve the mock until interrupted; blocks."""
    uvicorn.run(
        create_mock_app(options),
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        server_header=False,
        log_level="warning",
    )


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m proxy.mock_upstream --port 9000 --output-tokens 50`."""
    parser = argparse.ArgumentParser(
        prog="python -m proxy.mock_upstream",
        description="OpenAI- and Anthropic-compatible mock upstream",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    defaults = MockOptions()
    parser.add_argument("--output-tokens", type=int, default=defaults.output_tokens)
    parser.add_argument("--prompt-tokens", type=int, default=None,
                        help="fixed input tokens (default: request text length // 4)")
    parser.add_argument("--latency-ms", type=float, default=defaults.latency_ms)
    parser.add_argument("--chunk-delay-ms", type=float, default=defaults.chunk_delay_ms)
    parser.add_argument("--cached-tokens", type=int, default=defaults.cached_tokens)
    parser.add_argument("--reasoning-tokens", type=int, default=defaults.reasoning_tokens)
    args = parser.parse_args(argv)
    options = MockOptions(
        output_tokens=args.output_tokens,
        prompt_tokens=args.prompt_tokens,
        latency_ms=args.latency_ms,
        chunk_delay_ms=args.chunk_delay_ms,
        cached_tokens=args.cached_tokens,
        reasoning_tokens=args.reasoning_tokens,
    )
    serve(args.host, args.port, options)
