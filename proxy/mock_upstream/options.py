"""Server-wide defaults (`MockOptions`) and their per-request overrides (`Behaviour`).

Tests drive the mock through `x-mock-*` request headers so one running server can play a
healthy upstream, a rate-limited one and a stream that dies half-way, side by side.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

DEFAULT_MODELS = ("mock-gpt", "gpt-4o-mini", "text-embedding-3-small", "claude-3-5-haiku-latest")


@dataclass(frozen=True, slots=True, kw_only=True)
class MockOptions:
    """What every response looks like unless a request's `x-mock-*` headers say otherwise."""

    output_tokens: int = 20
    """Visible output tokens (one word each); reasoning tokens come on top."""
    prompt_tokens: int | None = None
    """Fixed input-token count; `None` counts len(request text) // 4, at least 1."""
    latency_ms: float = 0.0
    """Delay before the response starts (time to first byte)."""
    chunk_delay_ms: float = 0.0
    """Delay between streamed events."""
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_tokens: int = 0
    embedding_dim: int = 8
    models: tuple[str, ...] = DEFAULT_MODELS


@dataclass(frozen=True, slots=True, kw_only=True)
class Behaviour:
    """The effective settings of one request: `MockOptions` plus header overrides."""

    output_tokens: int
    prompt_tokens: int | None
    latency_ms: float
    chunk_delay_ms: float
    cached_tokens: int
    reasoning_tokens: int
    cache_write_tokens: int
    status: int | None = None
    usage: bool = True
    disconnect_after: int | None = None
    truncate_after: int | None = None

    @classmethod
    def defaults(cls, options: MockOptions) -> Behaviour:
        return cls(
            output_tokens=options.output_tokens,
            prompt_tokens=options.prompt_tokens,
            latency_ms=options.latency_ms,
            chunk_delay_ms=options.chunk_delay_ms,
            cached_tokens=options.cached_tokens,
            reasoning_tokens=options.reasoning_tokens,
            cache_write_tokens=options.cache_write_tokens,
        )

    def with_headers(self, headers: Iterable[tuple[bytes, bytes]]) -> Behaviour:
        """Apply `x-mock-*` headers; returns `self` untouched on the (hot) no-override path."""
        changes: dict[str, object] = {}
        for name, value in headers:
            if name.startswith(b"x-mock-"):
                field = _HEADER_FIELDS.get(name)
                if field is not None:
                    changes[field[0]] = field[1](value.decode("latin-1").strip())
        return replace(self, **changes) if changes else self  # type: ignore[arg-type]


def _is_false(value: str) -> bool:
    return value.lower() not in {"1", "true", "yes"}


_HEADER_FIELDS: dict[bytes, tuple[str, Callable[[str], object]]] = {
    b"x-mock-status": ("status", int),
    b"x-mock-latency-ms": ("latency_ms", float),
    b"x-mock-chunk-delay-ms": ("chunk_delay_ms", float),
    b"x-mock-output-tokens": ("output_tokens", int),
    b"x-mock-prompt-tokens": ("prompt_tokens", int),
    b"x-mock-cached-tokens": ("cached_tokens", int),
    b"x-mock-reasoning-tokens": ("reasoning_tokens", int),
    b"x-mock-cache-write-tokens": ("cache_write_tokens", int),
    b"x-mock-no-usage": ("usage", _is_false),
    b"x-mock-disconnect-after": ("disconnect_after", int),
    b"x-mock-truncate-after": ("truncate_after", int),
}
"""Header -> (Behaviour field, parser). `x-mock-no-usage: 1` sets usage=False."""
