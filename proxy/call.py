"""What the gateway knows about one proxied call while it is in flight.

`Call` is created once the caller is known and the request is read; every stage of the
pipeline (route, forward, meter, record) reads and fills its typed fields. Request ids
are minted here too: a random per-process prefix plus a counter, unique across processes
and restarts without a system call per request (ids are lookup handles, not secrets: a
team only ever sees its own calls).
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from proxy.auth import Caller
from proxy.config import Deployment

if TYPE_CHECKING:
    from proxy.protocols.base import Protocol

_ID_PREFIX = "req_" + os.urandom(8).hex()
_ID_COUNTER = itertools.count()


def new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_ID_COUNTER):08x}"


class Headers:
    """The client's header lines in order, repeats kept, with a last-wins lookup by name.

    Names are lower-case bytes, as ASGI servers hand them over.
    """

    __slots__ = ("lines", "map")

    def __init__(self, lines: list[tuple[bytes, bytes]]) -> None:
        self.lines = lines
        self.map = dict(lines)

    def get(self, name: bytes, default: bytes | None = None) -> bytes | None:
        return self.map.get(name, default)

    def __contains__(self, name: bytes) -> bool:
        return name in self.map


@dataclass(slots=True, kw_only=True)
class Call:
    request_id: str
    received_at: datetime  # UTC, when the request arrived
    t0: float  # perf_counter() at arrival
    caller: Caller
    protocol: Protocol
    method: str
    target: bytes  # path and query below /v1 as the client encoded them, e.g. b"/models/a%2Fb"
    headers: Headers
    body: bytes  # as received (still compressed if the client compressed it)
    request: dict[str, Any] | None  # the parsed JSON body of a metered call
    requested_model: str | None
    stream: bool
    chain: tuple[Deployment, ...]  # the deployments to try, in order
    deployment: Deployment  # the deployment of the current try
    attempt: int = 0  # 0 for the first try, 1.. for retries and fallbacks
    budget_remaining_g: float | None = None
    upstream_wait_s: float = 0.0  # time spent waiting on upstreams, for the overhead figure
    ttft_s: float | None = None  # time to the first streamed byte, seconds
    client_gone: bool = False  # the client disconnected before the answer was complete
    finishing: bool = False  # the last byte of the answer is being sent
