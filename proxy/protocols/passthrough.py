"""Plain pass-through: every other `/v1/*` path (models, files, audio, images, batches...).

Not metered and never parsed: the request body goes up as the client sent it (compressed
or not) and the answer comes back as the upstream sends it, byte for byte and piece by
piece as it arrives (chunked audio, SSE, NDJSON), `content-encoding` included. Paths
under `/v1/messages/` (count_tokens, batches) go to the Anthropic upstream and answer the
gateway's own errors in Anthropic's envelope.

The one change: a `GET /v1/models` list also names the models the configuration serves,
so a chat app that lists models offers them.
"""

from __future__ import annotations

from typing import Any

import orjson

from proxy.config import Deployment
from proxy.errors import ProxyError
from proxy.protocols.anthropic_messages import error_body
from proxy.protocols.base import Protocol
from proxy.routing import Router


class Passthrough(Protocol):
    endpoint = "passthrough"


class AnthropicPassthrough(Passthrough):
    """`/v1/messages/*` paths other than the metered `POST /v1/messages`."""

    anthropic_wire = True

    def route(self, router: Router, model: str | None) -> tuple[Deployment, ...]:
        return (router.anthropic,)

    def error_body(self, exc: ProxyError) -> bytes:
        return error_body(exc.status, exc.message)


class Models(Passthrough):
    """`/v1/models` and `/v1/models/{id}`."""

    endpoint = "models"


def with_configured_models(data: bytes, names: list[str]) -> bytes:
    """The upstream's `GET /v1/models` list plus the model names the config serves."""
    try:
        listing: Any = orjson.loads(data)
        models = listing["data"]
        known = {m.get("id") for m in models if isinstance(m, dict)}
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        return data  # not a model list: relay it as it came
    models.extend(
        {"id": name, "object": "model", "created": 0, "owned_by": "wattgate"}
        for name in names
        if name not in known
    )
    return orjson.dumps(listing)
