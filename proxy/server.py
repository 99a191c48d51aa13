"""The HTTP server behind `wattgate serve`: uvicorn, with bounded connections and timeouts.

Plain uvicorn keeps every socket it accepts and times out neither a request's headers
nor its body: `limit_concurrency` answers 503 per request but keeps the sockets open,
and `timeout_keep_alive` only starts after a response and restarts on any byte, so an
idle or trickling client holds a descriptor for ever. `GuardedHttpToolsProtocol`
extends uvicorn's httptools protocol with both missing pieces:

Deadlines, one per connection, set by what the connection is doing:

    idle       accepted, or between keep-alive requests   keep_alive_timeout_s
    headers    from the request's first byte              header_timeout_s
    body       from the end of the headers                body_timeout_s
    running    the request is being answered              none (upstream timeouts rule)

A connection past its deadline is closed; one cut while sending a request is answered
`408` (OpenAI's error envelope, `code: request_timeout`) first. Deadlines are absolute
per phase, so trickling a byte at a time does not extend them (slowloris).

A bound on open connections (`max_connections`, lowered to what the open-file limit
allows): a connection accepted at the bound closes the one that has waited longest
without a request being answered (idle, or still sending headers), so idle sockets can
never lock real callers out; when every connection is busy the newcomer is answered
`503` (`code: too_many_connections`) and closed.

A periodic sweep (a few times per shortest timeout, at most once a second) applies
the deadlines, so the per-request cost is a few attribute writes.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import resource
from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from proxy.config import Settings
from proxy.errors import error_body

log = logging.getLogger("wattgate.server")

# Descriptors kept free for the database, upstream pools, spool and log files, ...
_RESERVED_FDS = 64


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """How many client connections stay open, and how long each phase may take (seconds)."""

    max_connections: int
    keep_alive_timeout_s: float
    header_timeout_s: float
    body_timeout_s: float

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectionLimits:
        return cls(
            max_connections=connection_cap(settings.max_connections),
            keep_alive_timeout_s=settings.keep_alive_timeout_s,
            header_timeout_s=settings.header_timeout_s,
            body_timeout_s=settings.body_timeout_s,
        )

    @property
    def sweep_interval_s(self) -> float:
        shortest = min(self.keep_alive_timeout_s, self.header_timeout_s, self.body_timeout_s)
        return min(max(shortest / 4, 0.05), 1.0)


def connection_cap(configured: int) -> int:
    """`configured`, lowered so that open connections cannot exhaust the open-file limit.

    Each proxied call holds a client socket and an upstream socket, so client connections
    get half of the (soft) `RLIMIT_NOFILE` left after a small reserve.
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return configured
    allowed = max((soft - _RESERVED_FDS) // 2, 1)
    if configured > allowed:
        log.warning(
            "WATTGATE_MAX_CONNECTIONS=%d is more than the open-file limit (%d) allows; "
            "keeping at most %d connections (raise the limit with ulimit -n)",
            configured,
            soft,
            allowed,
        )
        return allowed
    return configured


def raise_open_file_limit() -> None:
    """Lift the soft open-file limit to the hard one (what Go and nginx do at start-up)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as exc:  # some platforms cap it lower than `hard`
            log.debug("open-file limit stays at %d: %s", soft, exc)


class Phase(enum.Enum):
    IDLE = "idle"
    HEADERS = "headers"
    BODY = "body"
    RUNNING = "running"


def _raw_response(status: int, reason: str, message: str, code: str) -> bytes:
    """A complete HTTP/1.1 error response that closes the connection."""
    body = error_body(message, type="invalid_request_error", code=code)
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class ConnectionRegistry:
    """The open connections of one server: the bound, eviction order and the sweep."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self.open: set[GuardedHttpToolsProtocol] = set()
        # Connections with no request being answered, longest-waiting first.
        self.waiting: OrderedDict[GuardedHttpToolsProtocol, None] = OrderedDict()
        self.closed: Counter[str] = Counter()  # why connections were closed, since last sweep
        self.timeouts: dict[Phase, float | None] = {
            Phase.IDLE: limits.keep_alive_timeout_s,
            Phase.HEADERS: limits.header_timeout_s,
            Phase.BODY: limits.body_timeout_s,
            Phase.RUNNING: None,
        }
        self._sweeping = False

    def admit(self, conn: GuardedHttpToolsProtocol) -> bool:
        """Register `conn`, making room by closing the longest-waiting one if needed."""
        self._start_sweep(conn.loop)
        if len(self.open) >= self.limits.max_connections:
            if not self.waiting:
                self.closed["refused (all connections busy)"] += 1
                return False
            oldest = next(iter(self.waiting))
            self.closed["evicted at the connection bound"] += 1
            oldest.close(reason=None)
        self.open.add(conn)
        return True

    def discard(self, conn: GuardedHttpToolsProtocol) -> None:
        self.open.discard(conn)
        self.waiting.pop(conn, None)

    def _start_sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._sweeping:
            self._sweeping = True
            loop.call_later(self.limits.sweep_interval_s, self._sweep, loop)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.call_later(self.limits.sweep_interval_s, self._sweep, loop)  # first: never lost
        now = loop.time()
        for conn in [c for c in self.open if c.deadline is not None and c.deadline <= now]:
            conn.expire()
        if self.closed:
            summary = ", ".join(f"{n} {why}" for why, n in self.closed.items())
            refused = any(why.startswith("refused") for why in self.closed)
            level = logging.WARNING if refused else logging.DEBUG
            log.log(level, "connections closed: %s", summary)
            self.closed.clear()


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with per-phase deadlines and a connection bound.

    Subclasses made by `guarded_protocol` carry the `registry` their server shares.
    """

    registry: ConnectionRegistry

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.phase = Phase.IDLE
        self.deadline: float | None = None

    # -- connection life ------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if not self.registry.admit(self):
            transport.write(
                _raw_response(
                    503,
                    "Service Unavailable",
                    "Too many open connections; try again shortly.",
                    "too_many_connections",
                )
            )
            transport.close()
            return
        self._enter(Phase.IDLE)

    def connection_lost(self, exc: Exception | None) -> None:
        self.registry.discard(self)
        super().connection_lost(exc)

    # -- parser callbacks: each marks the phase the connection is in --------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._enter(Phase.HEADERS)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._enter(Phase.BODY)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._enter(Phase.RUNNING if self._busy() else Phase.IDLE)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.phase is Phase.RUNNING and not self._busy():
            self._enter(Phase.IDLE)

    # -- deadlines --------------------------------------------------------------------

    def _busy(self) -> bool:
        """A request of this connection is being answered or waits its turn (pipelining)."""
        return bool(self.pipeline) or (self.cycle is not None and not self.cycle.response_complete)

    def _enter(self, phase: Phase) -> None:
        timeout = self.registry.timeouts[phase]
        if phase is Phase.IDLE:
            self.registry.waiting[self] = None
            self.registry.waiting.move_to_end(self)
        elif phase is not Phase.HEADERS or self._busy():
            self.registry.waiting.pop(self, None)
        self.phase = phase
        self.deadline = None if timeout is None else self.loop.time() + timeout

    def expire(self) -> None:
        """Called by the sweep once the deadline of the current phase has passed."""
        limits = self.registry.limits
        if self.phase is Phase.HEADERS:
            self.close(reason="slow request headers", timeout_s=limits.header_timeout_s)
        elif self.phase is Phase.BODY:
            self.close(reason="slow request body", timeout_s=limits.body_timeout_s)
        else:
            self.close(reason="idle")

    def close(self, *, reason: str | None, timeout_s: float = 0.0) -> None:
        """Close the connection, answering 408 first when a request was cut off unanswered.

        `reason` names why in the sweep's log line (None: the caller counted it already).
        """
        self.registry.discard(self)
        self.deadline = None
        if reason is not None:
            self.registry.closed[reason] += 1
        if self.transport.is_closing():
            return
        cycle = self.cycle if self.phase is Phase.BODY else None
        unanswered = self.phase is Phase.HEADERS or (
            cycle is not None and not cycle.response_started
        )
        if cycle is not None:
            # The application sees a disconnect, and whatever it still sends is dropped.
            cycle.disconnected = True
            cycle.message_event.set()
        if unanswered and reason is not None:
            what = "headers" if self.phase is Phase.HEADERS else "body"
            self.transport.write(
                _raw_response(
                    408,
                    "Request Timeout",
                    f"The request {what} did not arrive within {timeout_s:g} s.",
                    "request_timeout",
                )
            )
        self.transport.close()


def guarded_protocol(limits: ConnectionLimits) -> type[GuardedHttpToolsProtocol]:
    """A protocol class for one server: its connections share one registry."""
    return type(
        "WattgateHttpProtocol",
        (GuardedHttpToolsProtocol,),
        {"registry": ConnectionRegistry(limits)},
    )


def uvicorn_config(
    app: Any,
    settings: Settings,
    *,
    host: str,
    port: int,
    loop: str = "uvloop",
    log_level: str | None = None,
) -> uvicorn.Config:
    """The uvicorn configuration `wattgate serve` runs (tests start the same one).

    Logging is Wattgate's (`proxy.logs`): uvicorn's own configuration is left out and its
    loggers follow the library log level unless `log_level` is given.
    """
    limits = ConnectionLimits.from_settings(settings)
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop=loop,  # type: ignore[arg-type]
        http=guarded_protocol(limits),
        ws="none",
        access_log=False,  # the access line comes from Wattgate itself (proxy.logs)
        log_config=None,
        log_level=log_level,
        lifespan="on",
        server_header=False,
        timeout_keep_alive=limits.keep_alive_timeout_s,  # type: ignore[arg-type]
    )
