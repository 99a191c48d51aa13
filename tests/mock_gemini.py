"""A small mock of the Gemini API (Google AI Studio, `generativelanguage.googleapis.com`).

Only what litellm's `gemini/` provider calls for chat: `POST /{version}/models/{model}:
generateContent` (one JSON body) and `:streamGenerateContent?alt=sse` (`data:` events, each
a `GenerateContentResponse`). Auth is the `x-goog-api-key` header. Answers follow the real
wire format: `candidates[].content.parts[].text`, `finishReason`, and `usageMetadata`
where `promptTokenCount` includes `cachedContentTokenCount` and `totalTokenCount` is
prompt + candidates + thoughts (candidates exclude the thinking tokens).

Behaviour is steered per request with headers, which the gateway passes on to litellm
and litellm to Gemini: `x-mock-status` (answer with that error status, in Google's error
envelope), `x-mock-prompt-tokens`, `x-mock-cached-tokens`, `x-mock-thoughts-tokens`.
Every request is kept in `requests` (method, path, query, headers, JSON body).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import orjson

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

REPLY = "Hello from the Gemini mock, nice to meet you."
WORDS = REPLY.split(" ")  # one "token" per word: candidatesTokenCount == len(WORDS)
_PATH = re.compile(r"^/(?P<version>v1(?:alpha|beta)?)/models/(?P<model>[^/:]+):(?P<method>\w+)$")
_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
           404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}


@dataclass
class Seen:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any


@dataclass
class MockGemini:
    """Raw ASGI app (run it with `tests.servers.ServerThread`)."""

    requests: list[Seen] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope["headers"]}
        body = orjson.loads(raw) if raw else None
        query = scope.get("query_string", b"").decode("latin-1")
        self.requests.append(Seen(scope["method"], scope["path"], query, headers, body))

        match = _PATH.match(scope["path"])
        if scope["method"] != "POST" or match is None or match["method"] not in (
            "generateContent", "streamGenerateContent"
        ):
            await _error(send, 404, f"Method not found: {scope['method']} {scope['path']}")
            return
        if not headers.get("x-goog-api-key"):
            await _error(send, 401, "API key not valid. Please pass a valid API key.")
            return
        if "x-mock-status" in headers:
            status = int(headers["x-mock-status"])
            await _error(send, status, f"mock error {status}")
            return
        if not isinstance(body, dict) or not body.get("contents"):
            await _error(send, 400, "* GenerateContentRequest.contents: contents is not specified")
            return

        usage = _usage(headers)
        model = match["model"]
        if match["method"] == "generateContent":
            doc = _response(model, REPLY, finish=True, usage=usage)
            await _send(send, 200, b"application/json", orjson.dumps(doc))
            return
        # Streams: each event repeats usageMetadata with the counts so far (as Gemini
        # does); thoughtsTokenCount comes with the first event, the last has finishReason.
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]})
        pieces = [w + " " for w in WORDS[:-1]] + [WORDS[-1]]
        for n, piece in enumerate(pieces, start=1):
            so_far = {**usage, "candidatesTokenCount": n}
            so_far["totalTokenCount"] = (so_far["promptTokenCount"] + n
                                         + so_far.get("thoughtsTokenCount", 0))
            doc = _response(model, piece, finish=n == len(pieces), usage=so_far)
            await send({"type": "http.response.body",
                        "body": b"data: " + orjson.dumps(doc) + b"\r\n\r\n", "more_body": True})
        await send({"type": "http.response.body", "body": b""})


def _usage(headers: dict[str, str]) -> dict[str, Any]:
    prompt = int(headers.get("x-mock-prompt-tokens", "40"))
    cached = int(headers.get("x-mock-cached-tokens", "0"))
    thoughts = int(headers.get("x-mock-thoughts-tokens", "0"))
    usage: dict[str, Any] = {"promptTokenCount": prompt, "candidatesTokenCount": len(WORDS)}
    if cached:
        usage["cachedContentTokenCount"] = cached
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    usage["totalTokenCount"] = prompt + len(WORDS) + thoughts
    usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt}]
    return usage


def _response(model: str, text: str, *, finish: bool, usage: dict[str, Any]) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"},
                                 "index": 0}
    if finish:
        candidate["finishReason"] = "STOP"
    return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": model,
            "responseId": "mock-gemini-response"}


async def _error(send: Send, status: int, message: str) -> None:
    doc = {"error": {"code": status, "message": message,
                     "status": _STATUS.get(status, "UNKNOWN")}}
    await _send(send, status, b"application/json", orjson.dumps(doc))


async def _send(send: Send, status: int, content_type: bytes, data: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", content_type), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})
