"""OpenAI-format chat calls to providers with another wire format, through litellm.

Only litellm's translation layer is used (`litellm.acompletion`), never its router or
proxy server. litellm is heavy (seconds to import, tens of MB), so it is imported on
first need, in a worker thread so the event loop keeps serving: at start-up when the
config has a translated deployment, otherwise on the first call that needs it. An
OpenAI-only gateway never imports it.

The results come back as OpenAI JSON: a `chat.completion` body, or `data:` events of
`chat.completion.chunk`s that the ordinary chat relay then meters. litellm reports
Anthropic's cache reads and writes inside `prompt_tokens` (with `cached_tokens` in
`prompt_tokens_details`), so the OpenAI usage extraction applies unchanged.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from time import perf_counter
from typing import Any
from urllib.parse import urlsplit

import orjson

from proxy.call import Call
from proxy.config import TRANSLATED_PROVIDERS, Deployment
from proxy.errors import BadRequest, ProxyError, UpstreamError, UpstreamTimeout
from proxy.exchange import Answer, BodyAnswer, StreamAnswer, fill_usage
from proxy.forward import JSON_CONTENT, SSE_CONTENT, HeaderAllowList, caller_key, gateway_headers
from proxy.protocols import CHAT_COMPLETIONS
from proxy.protocols.chat_completions import ChatStreamRelay, client_wants_usage
from proxy.retries import Tries

# Request fields the gateway sets itself; everything else goes to litellm as is.
_OWN_FIELDS = frozenset({"model", "messages", "stream", "stream_options"})
_NO_FORWARD_PREFIXES = ("x-stainless-", "x-wattgate-", "x-api-key", "x-forwarded-")


class ProviderError(ProxyError):
    """An HTTP error status the provider answered with, relayed in OpenAI's envelope."""

    type = "upstream_error"

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message, code=f"upstream_{status}")
        self.status = status


def _import_litellm() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no download at import
    os.environ.setdefault("LITELLM_TELEMETRY", "False")
    import litellm

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    litellm.drop_params = True  # OpenAI parameters a provider lacks are dropped, not fatal
    return litellm


class Translator:
    """Lazily loaded litellm, and the calls made through it."""

    def __init__(self) -> None:
        self._litellm: Any = None
        self._loading: asyncio.Future[Any] | None = None

    def preload(self) -> None:
        """Start importing litellm in the background (call from the running event loop)."""
        if self._loading is None:
            self._loading = asyncio.ensure_future(asyncio.to_thread(_import_litellm))

    async def _lib(self) -> Any:
        if self._litellm is None:
            self.preload()
            assert self._loading is not None
            self._litellm = await asyncio.shield(self._loading)
        return self._litellm

    async def complete(
        self, dep: Deployment, request: dict[str, Any], *, model: str,
        api_key: str | None, headers: dict[str, str],
    ) -> dict[str, Any]:
        """A non-streamed chat completion, as OpenAI JSON."""
        litellm = await self._lib()
        try:
            response = await litellm.acompletion(
                **_arguments(dep, request, model=model, api_key=api_key, headers=headers),
                stream=False,
            )
        except Exception as exc:
            raise _error(litellm, exc, dep) from None
        return _clean(response.model_dump(exclude_none=True))

    async def stream(
        self, dep: Deployment, request: dict[str, Any], *, model: str,
        api_key: str | None, headers: dict[str, str],
    ) -> AsyncIterator[bytes]:
        """Opens the stream (errors raise here, before any byte) and returns its SSE bytes.

        Some providers (Gemini, Vertex) send the request only when the first chunk is
        asked for, so it is awaited here: an upstream 429 or 5xx then keeps its status
        (and a fallback chain moves on) instead of breaking off a stream already begun.
        """
        litellm = await self._lib()
        try:
            stream = await litellm.acompletion(
                **_arguments(dep, request, model=model, api_key=api_key, headers=headers),
                stream=True, stream_options={"include_usage": True},
            )
            chunks = aiter(stream)
            first = await anext(chunks, None)
        except Exception as exc:
            raise _error(litellm, exc, dep) from None
        return _sse(litellm, first, chunks, dep)


async def _sse(
    litellm: Any, first: Any, chunks: AsyncIterator[Any], dep: Deployment
) -> AsyncIterator[bytes]:
    try:
        chunk = first
        while chunk is not None:
            yield b"data: " + orjson.dumps(_clean(chunk.model_dump(exclude_none=True))) + b"\n\n"
            chunk = await anext(chunks, None)
    except Exception as exc:
        raise _error(litellm, exc, dep) from None
    yield b"data: [DONE]\n\n"


def litellm_model(dep: Deployment, requested: str) -> str:
    """litellm's `provider/model` name for a deployment."""
    name = dep.upstream_model or requested
    prefix = TRANSLATED_PROVIDERS[dep.provider]
    if dep.provider == "anthropic":
        name = name.removeprefix("anthropic/")
    return name if name.startswith(prefix + "/") else f"{prefix}/{name}"


def forwarded_headers(call: Call, allowed: HeaderAllowList) -> dict[str, str]:
    """Client headers worth passing on (`x-*`, `anthropic-*`; a team key's only when
    allowed, see `proxy.forward`) plus the deployment's own."""
    restricted = call.caller.key_id is not None
    out = {}
    for name, value in call.headers.lines:
        key = name.decode("latin-1")
        if not (key.startswith("x-") or key.startswith("anthropic-")):
            continue
        if key.startswith(_NO_FORWARD_PREFIXES) or (restricted and name not in allowed):
            continue
        out[key] = value.decode("latin-1")
    out.update(call.deployment.headers)
    return out


def _arguments(
    dep: Deployment, request: dict[str, Any], *, model: str, api_key: str | None,
    headers: dict[str, str],
) -> dict[str, Any]:
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty list.", param="messages")
    args: dict[str, Any] = {k: v for k, v in request.items() if k not in _OWN_FIELDS}
    args.update(dep.params)
    args.update(
        model=model, messages=messages, num_retries=0, max_retries=0,
        timeout=dep.timeout_s,
    )
    if dep.base_url:
        args["api_base"] = _api_base(dep)
    if api_key:
        args["api_key"] = api_key
    if headers:
        args["extra_headers"] = headers
    return args


def _api_base(dep: Deployment) -> str:
    """litellm's `api_base` for a deployment's `base_url`.

    For Gemini, litellm appends only `models/{model}:generateContent` to `api_base`, so
    the API version must be in it: a bare host (`https://generativelanguage.googleapis.com`,
    as one would naturally write) gets `/v1beta`, the version litellm itself uses.
    """
    if dep.provider == "gemini" and urlsplit(dep.base_url).path in ("", "/"):
        return dep.base_url.rstrip("/") + "/v1beta"
    return dep.base_url


# litellm's Gemini/Vertex extras, sent (empty) on every response and chunk.
_EMPTY_EXTRAS = ("images", "thinking_blocks")


def _clean(doc: dict[str, Any]) -> dict[str, Any]:
    """Drop litellm's own additions so the client sees plain OpenAI shapes."""
    for choice in doc.get("choices") or ():
        for key in ("message", "delta"):
            part = choice.get(key)
            if isinstance(part, dict):
                part.pop("provider_specific_fields", None)
                for extra in _EMPTY_EXTRAS:
                    if part.get(extra) == []:
                        del part[extra]
        choice.pop("provider_specific_fields", None)
    doc.pop("provider_specific_fields", None)
    for key in [k for k, v in doc.items() if k.startswith("vertex_ai_") and not v]:
        del doc[key]  # empty grounding/safety/citation lists; non-empty ones are kept
    return doc


def _error(litellm: Any, exc: BaseException, dep: Deployment) -> ProxyError:
    where = dep.base_url or dep.provider
    original = getattr(exc, "original_exception", None)
    if type(exc).__name__ == "MidStreamFallbackError" and isinstance(original, BaseException):
        exc = original  # what the provider answered (a 429, a timeout...)
    if isinstance(exc, ProxyError):
        return exc
    if isinstance(exc, litellm.Timeout | asyncio.TimeoutError):
        return UpstreamTimeout(f"Upstream {where} did not answer in time.")
    if isinstance(exc, litellm.APIConnectionError) or _connection_failure(exc):
        return UpstreamError(f"Upstream {where} is unreachable.")
    status = getattr(exc, "status_code", None)
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    if isinstance(status, int) and 400 <= status < 600:
        return ProviderError(status, message)
    return UpstreamError(f"Upstream {where} failed: {message}")


def _connection_failure(exc: BaseException) -> bool:
    """litellm reports some refused connections as a 500; look at what caused it."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, ConnectionError) or type(seen).__name__ in {
            "ClientConnectorError", "ConnectError", "ServerDisconnectedError",
        }:
            return True
        seen = seen.__cause__ or seen.__context__
    return "Cannot connect to host" in str(exc)


class LitellmExchange:
    """One try of a Chat Completions call on a deployment reached through litellm."""

    def __init__(self, translator: Translator, *, allowed_headers: HeaderAllowList) -> None:
        self._translator = translator
        self._allowed = allowed_headers

    async def __call__(self, call: Call, tries: Tries) -> Answer:
        dep = call.deployment
        request = call.request
        if call.protocol is not CHAT_COMPLETIONS or request is None:
            raise BadRequest(
                f"{dep.provider} deployments serve /v1/chat/completions only "
                f"(and /v1/messages for Anthropic)."
            )
        kwargs: dict[str, Any] = {
            "model": litellm_model(dep, call.requested_model or ""),
            "api_key": caller_key(call.caller) or dep.api_key,
            "headers": forwarded_headers(call, self._allowed),
        }
        t_send = perf_counter()
        if not call.stream:
            doc = await self._translator.complete(dep, request, **kwargs)
            call.upstream_wait_s += perf_counter() - t_send
            answer = BodyAnswer(
                status=200, headers=[JSON_CONTENT, *gateway_headers(call)], data=orjson.dumps(doc)
            )
            fill_usage(call, answer, doc)
            return answer
        chunks = await self._translator.stream(dep, request, **kwargs)
        call.upstream_wait_s += perf_counter() - t_send
        wants = client_wants_usage(request)
        return StreamAnswer(
            status=200,
            headers=[SSE_CONTENT, (b"cache-control", b"no-cache"), *gateway_headers(call)],
            chunks=chunks,
            t_sent=t_send,
            relay=lambda meter: ChatStreamRelay(
                meter, client_wants_usage=wants, usage_asked=not wants
            ),
            release=lambda: None,
        )
