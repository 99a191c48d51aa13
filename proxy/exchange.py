"""One try against one deployment: send the call, get the answer ready to relay.

An exchange returns an `Answer` without sending anything to the client: a `BodyAnswer`
(the whole body, with its usage read) or a `StreamAnswer` (headers now, bytes as they
arrive, through a relay that meters the stream). The pipeline then meters, sends and
records it. A retryable failure (429/5xx) with another try to follow raises
`RetryableAnswer` instead, before any byte reached the client.

`DirectExchange` serves deployments that speak the client's protocol: the request goes
up as the client sent it, except for the changes its protocol module makes; the
translating exchanges live in `proxy.adapters`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from time import perf_counter
from typing import Any, Protocol

import aiohttp
import orjson

from proxy.call import Call
from proxy.config import Deployment
from proxy.errors import ProxyError
from proxy.forward import HeaderAllowList, downstream_headers, upstream_headers, upstream_url
from proxy.protocols.base import Annotation, Meter, StreamRelay
from proxy.protocols.passthrough import Models, with_configured_models
from proxy.recorder import local_usage
from proxy.retries import Tries, retry_after_s, retryable
from proxy.stream_usage import StreamUsagePolicy
from proxy.upstream import UpstreamClient, read_body
from proxy.usage import TokenUsage


@dataclass(slots=True, kw_only=True)
class BodyAnswer:
    """A whole answer. `metered`: estimate its impacts (a metered call's success)."""

    status: int
    headers: list[tuple[bytes, bytes]]
    data: bytes
    metered: bool = False
    usage: TokenUsage | None = None
    usage_source: str = "none"  # upstream | estimated | none
    served_model: str | None = None
    parsed: dict[str, Any] | None = None  # the body as JSON, when it is an object
    row_status: int | None = None  # what the usage row records, when not `status`
    error_type: str | None = None


@dataclass(slots=True, kw_only=True)
class StreamAnswer:
    """An answer relayed as it arrives. `relay(meter, annotation)` builds the relay for its
    bytes (see `proxy.protocols.base`)."""

    status: int
    headers: list[tuple[bytes, bytes]]
    chunks: AsyncIterator[bytes]
    t_sent: float  # perf_counter() when the request went upstream
    relay: Callable[[Meter, Annotation | None], StreamRelay]
    release: Callable[[], None]  # frees the upstream connection (closes it if unfinished)


Answer = BodyAnswer | StreamAnswer


class RetryableAnswer(ProxyError):
    """An upstream 429/5xx on a try that another try follows."""

    type = "upstream_error"

    def __init__(self, status: int, retry_after: float | None) -> None:
        super().__init__(f"Upstream answered {status}.", code=f"upstream_{status}")
        self.status = status
        self.retry_after = retry_after


class Exchange(Protocol):
    def __call__(self, call: Call, tries: Tries) -> Awaitable[Answer]: ...


async def retry_instead(
    call: Call, response: aiohttp.ClientResponse, t_send: float, tries: Tries
) -> None:
    """Raise `RetryableAnswer` for a 429/5xx that another try follows (its body drained, so
    the connection can be reused); the last try's answer is relayed instead."""
    if retryable(response.status):
        wait = retry_after_s(response.headers.get("retry-after"))
        if tries.has_next(wait):
            await read_body(response)
            call.upstream_wait_s += perf_counter() - t_send
            raise RetryableAnswer(response.status, wait)


def upstream_json(call: Call, response: aiohttp.ClientResponse, data: bytes) -> BodyAnswer:
    """A metered call's whole answer, with its usage read (or counted locally).

    A 2xx whose body is not a JSON object reaches the client as it came, but its row
    records an upstream error: nothing in it can be metered.
    """
    answer = BodyAnswer(
        status=response.status,
        headers=downstream_headers(response, call, decoded=True),
        data=data,
    )
    if response.status >= 400:
        return answer
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        answer.row_status, answer.error_type = 502, "upstream_invalid_body"
        return answer
    fill_usage(call, answer, parsed)
    return answer


def fill_usage(call: Call, answer: BodyAnswer, parsed: dict[str, Any]) -> None:
    """Meter `answer` from its parsed body: upstream usage, else a local count."""
    answer.metered, answer.parsed = True, parsed
    served = parsed.get("model")
    answer.served_model = served if isinstance(served, str) else None
    answer.usage = call.protocol.usage(parsed)
    answer.usage_source = "upstream"
    if answer.usage is None:
        answer.usage = local_usage(call, call.protocol.output_texts(parsed))
        answer.usage_source = "estimated"


class DirectExchange:
    def __init__(
        self,
        upstream: UpstreamClient,
        *,
        stream_usage: StreamUsagePolicy,
        allowed_headers: HeaderAllowList,
        model_names: list[str],
    ) -> None:
        self._upstream = upstream
        self._stream_usage = stream_usage
        self._allowed = allowed_headers
        self._model_names = model_names

    async def __call__(self, call: Call, tries: Tries) -> Answer:
        dep = call.deployment
        ask_usage = (
            call.stream
            and call.request is not None
            and call.protocol.stream_usage_missing(call.request)
            and self._stream_usage.ask(dep)
        )
        response, t_send = await self._send(call, dep, ask_usage=ask_usage)
        try:
            if ask_usage and 400 <= response.status < 500 and response.status != 429:
                data = await read_body(response)
                call.upstream_wait_s += perf_counter() - t_send
                if not self._stream_usage.refused(dep, response.status, data):
                    return upstream_json(call, response, data)
                response.release()
                response, t_send = await self._send(call, dep, ask_usage=False)
                ask_usage = False
            return await self._answer(call, response, t_send, tries, ask_usage=ask_usage)
        except BaseException:
            response.close()
            raise

    async def _send(
        self, call: Call, dep: Deployment, *, ask_usage: bool
    ) -> tuple[aiohttp.ClientResponse, float]:
        body = call.body
        changed = None
        if call.request is not None:
            changed = call.protocol.upstream_body(
                call.request, dep, model=call.routed_model, ask_usage=ask_usage
            )
            if changed is not None:
                body = orjson.dumps(changed)
        t_send = perf_counter()
        response = await self._upstream.send(
            call.method,
            self._upstream.url(upstream_url(dep, call.target)),
            headers=upstream_headers(call, dep, self._allowed, body_changed=changed is not None),
            body=body or None,
            read_timeout_s=dep.timeout_s,
            decompress=call.protocol.metered,
        )
        return response, t_send

    async def _answer(
        self, call: Call, response: aiohttp.ClientResponse, t_send: float, tries: Tries,
        *, ask_usage: bool,
    ) -> Answer:
        status = response.status
        await retry_instead(call, response, t_send, tries)
        protocol = call.protocol
        if not protocol.metered:
            if isinstance(protocol, Models) and _lists_models(call) and status == 200:
                data = await read_body(response)
                call.upstream_wait_s += perf_counter() - t_send
                headers = downstream_headers(response, call, decoded=False)
                return BodyAnswer(
                    status=status, headers=headers,
                    data=with_configured_models(data, self._model_names),
                )
            call.upstream_wait_s += perf_counter() - t_send
            return StreamAnswer(
                status=status,
                headers=downstream_headers(response, call, decoded=False, keep_length=True),
                chunks=response.content.iter_any(),
                t_sent=t_send,
                relay=lambda meter, annotation: StreamRelay(),
                release=response.release,
            )
        if response.content_type == "text/event-stream" and status < 300:
            call.upstream_wait_s += perf_counter() - t_send
            request = call.request
            return StreamAnswer(
                status=status,
                headers=downstream_headers(response, call, decoded=True),
                chunks=response.content.iter_any(),
                t_sent=t_send,
                relay=lambda meter, annotation: protocol.stream_relay(
                    meter, request, usage_asked=ask_usage, annotation=annotation
                ),
                release=response.release,
            )
        data = await read_body(response)
        call.upstream_wait_s += perf_counter() - t_send
        return upstream_json(call, response, data)


def _lists_models(call: Call) -> bool:
    return call.method == "GET" and call.target.partition(b"?")[0] == b"/models"
