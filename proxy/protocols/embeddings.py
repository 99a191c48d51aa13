"""OpenAI Embeddings: `POST /v1/embeddings`.

Never streamed. Usage is the Chat Completions usage object (only `prompt_tokens`);
`impacts` goes at the top level of the body. Nothing is changed on the way up but the
deployment's model name.
"""

from __future__ import annotations

from typing import Any

from proxy.protocols.base import Protocol
from proxy.protocols.chat_completions import usage_of
from proxy.tokens import count_in
from proxy.usage import TokenUsage


class Embeddings(Protocol):
    endpoint = "embeddings"
    kind = "embedding"

    def usage(self, body: dict[str, Any]) -> TokenUsage | None:
        return usage_of(body.get("usage"))

    def input_tokens(self, request: dict[str, Any]) -> int:
        return count_in(request.get("input"))
