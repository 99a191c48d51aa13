"""The wire protocols the gateway speaks, one module each, and which path speaks which.

| path | module |
|---|---|
| `POST /v1/chat/completions` | `chat_completions` |
| `POST /v1/completions` | `completions` |
| `POST /v1/embeddings` | `embeddings` |
| `POST /v1/responses` | `responses` |
| `POST /v1/messages` | `anthropic_messages` |
| any other `/v1/*` path | `passthrough` (not metered) |

Adding a protocol means adding a module with a `Protocol` subclass and one line below.
"""

from __future__ import annotations

from proxy.protocols.anthropic_messages import Messages
from proxy.protocols.base import Protocol
from proxy.protocols.chat_completions import ChatCompletions
from proxy.protocols.completions import Completions
from proxy.protocols.embeddings import Embeddings
from proxy.protocols.passthrough import AnthropicPassthrough, Models, Passthrough
from proxy.protocols.responses import Responses

CHAT_COMPLETIONS = ChatCompletions()
MESSAGES = Messages()
_METERED: dict[str, Protocol] = {
    "/v1/chat/completions": CHAT_COMPLETIONS,
    "/v1/completions": Completions(),
    "/v1/embeddings": Embeddings(),
    "/v1/responses": Responses(),
    "/v1/messages": MESSAGES,
}
_PASSTHROUGH = Passthrough()
_ANTHROPIC_PASSTHROUGH = AnthropicPassthrough()
_MODELS = Models()


def protocol_for(method: str, path: str) -> Protocol:
    """The protocol of a `/v1/*` request."""
    if method == "POST":
        metered = _METERED.get(path)
        if metered is not None:
            return metered
    if path == "/v1/models" or path.startswith("/v1/models/"):
        return _MODELS
    if path.startswith("/v1/messages/"):
        return _ANTHROPIC_PASSTHROUGH
    return _PASSTHROUGH


__all__ = ["CHAT_COMPLETIONS", "MESSAGES", "Protocol", "protocol_for"]
