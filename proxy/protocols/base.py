"""What every wire protocol module provides, and the stream relays they build on.

A `Protocol` owns everything that depends on one wire format: how a call is routed, what
the gateway may change in the request on its way up (and why), how usage is read from a
response body and from a stream, where `impacts` goes, how tokens are counted locally
when the upstream reports none, and the shape of its errors. The pipeline
(`proxy.pipeline`) only calls these methods; it never looks inside a body itself.

A stream relay is fed the upstream's raw bytes and returns the bytes to send. Events the
gateway does not need are relayed byte for byte. `meter(usage)` is called once, with the
upstream's usage or None when the stream gave none (the pipeline then counts locally),
and returns the serialised impacts to splice into the event that carries them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import orjson

from proxy.config import Deployment
from proxy.errors import ProxyError
from proxy.impacts import splice_field
from proxy.routing import Router
from proxy.sse import EventSplitter, fields, terminated
from proxy.usage import TokenUsage

Meter = Callable[[TokenUsage | None], bytes]
# Called once a stream's impacts are known: the text to append to the assistant's answer
# (the annotation, `proxy.display.annotation`), or None.
Annotation = Callable[[], str | None]


def is_error_event(event: bytes) -> bool:
    """An SSE `error` event (`event: error`, or data whose `type` is "error"), as the
    Responses API and Anthropic send when a stream fails after its 200."""
    kind, data = fields(event)
    if kind == b"error":
        return True
    try:
        parsed = orjson.loads(data or b"")
    except orjson.JSONDecodeError:
        return False
    return isinstance(parsed, dict) and parsed.get("type") == "error"


class StreamRelay:
    """Relays a streamed answer; subclasses meter it."""

    model: str | None = None  # the model the upstream says it served
    error: str | None = None  # the upstream reported an error inside the stream
    complete: bool = False  # the stream's last event went out: a client may now leave
    response_id: str | None = None  # a Responses answer's id (`previous_response_id` names it)

    def feed(self, chunk: bytes) -> list[bytes]:
        """The bytes to send for `chunk` (possibly none, possibly held-back bytes too)."""
        return [chunk]

    def close(self) -> list[bytes]:
        """End of the upstream stream, complete or cut: whatever is still to send."""
        return []

    def output_texts(self) -> list[str]:
        """Generated text seen so far, for counting tokens locally."""
        return []


class EventRelay(StreamRelay):
    """An SSE relay: splits upstream bytes into events; a subclass relays each one
    (`_relay`) and ends the stream (`_end`), metering it there if no event did."""

    def __init__(self, meter: Meter) -> None:
        self._meter = meter
        self._splitter = EventSplitter()
        self.model = None
        self.error = None
        self.complete = False
        self.response_id = None

    def feed(self, chunk: bytes) -> list[bytes]:
        out: list[bytes] = []
        for event in self._splitter.split(chunk):
            self._relay(event, out)
        return out

    def close(self) -> list[bytes]:
        out: list[bytes] = []
        rest = self._splitter.rest()
        if rest.strip():
            self._relay(terminated(rest), out)
        self._end(out)
        return out

    def _relay(self, event: bytes, out: list[bytes]) -> None:
        raise NotImplementedError

    def _end(self, out: list[bytes]) -> None:
        raise NotImplementedError


class Protocol:
    """One wire protocol the gateway speaks. The base class is the unmetered default."""

    endpoint: ClassVar[str] = "passthrough"  # stored in usage rows and metric labels
    kind: ClassVar[str | None] = None  # the estimator's kind; None: not metered
    anthropic_wire: ClassVar[bool] = False  # speaks Anthropic's wire format (and error envelope)

    @property
    def metered(self) -> bool:
        return self.kind is not None

    def route(self, router: Router, model: str | None) -> tuple[Deployment, ...]:
        """The deployments to try for `model`, in order."""
        return router.route(model)

    def stream_usage_missing(self, request: dict[str, Any]) -> bool:
        """Whether a streamed call of this request would carry no usage unless the gateway
        asked for it (only Chat Completions and Completions need asking)."""
        return False

    def upstream_body(
        self, request: dict[str, Any], dep: Deployment, *, model: str | None, ask_usage: bool
    ) -> dict[str, Any] | None:
        """The body to send upstream when it must differ from the client's, else None.

        The only change every protocol may make: the model name, when the deployment
        serves under another (`upstream_model`) or the call was re-routed to another model
        (`model`, the name it was routed on). `ask_usage` asks a stream for its usage (see
        `stream_usage_missing`).
        """
        target = self.upstream_model(model, dep)
        if target is None or target == request.get("model"):
            return None
        return {**request, "model": target}

    def upstream_model(self, model: str | None, dep: Deployment) -> str | None:
        """The model name `dep` is sent for a call routed on `model`."""
        return dep.upstream_model or model

    def usage(self, body: dict[str, Any]) -> TokenUsage | None:
        """Usage of a response body, or None when the upstream sent none."""
        return None

    def input_tokens(self, request: dict[str, Any]) -> int:
        """Approximate prompt tokens of a request, counted locally."""
        return 0

    def output_texts(self, body: dict[str, Any]) -> list[str]:
        """Generated text of a response body, for counting tokens locally."""
        return []

    def with_impacts(self, body: bytes, impacts: bytes) -> bytes | None:
        """`body` with `impacts` added where this protocol carries it (top level)."""
        return splice_field(body, b"impacts", impacts)

    def stream_relay(
        self, meter: Meter, request: dict[str, Any] | None, *, usage_asked: bool,
        annotation: Annotation | None = None,
    ) -> StreamRelay:
        """The relay for a streamed answer to `request`; `annotation`, when given, adds
        the annotation where the answer's text ends."""
        return StreamRelay()

    def annotate(self, body: dict[str, Any], text: str) -> bool:
        """Append `text` to the assistant's answer in a parsed response body, unless the
        answer must not carry it (tool calls, and what only this protocol knows); returns
        whether it did."""
        return False

    def error_body(self, exc: ProxyError) -> bytes:
        """The gateway's own error, in this protocol's envelope."""
        return exc.body()
