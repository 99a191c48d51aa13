"""OpenAI Completions (legacy): `POST /v1/completions`.

Same usage object, stream format and stream-usage rules as Chat Completions (see
`proxy.protocols.chat_completions`); the prompt is `prompt` and the output is each
choice's `text`.
"""

from __future__ import annotations

from typing import Any

from proxy.protocols.chat_completions import ChatCompletions
from proxy.tokens import count_in


class Completions(ChatCompletions):
    endpoint = "completions"
    kind = "completion"

    def input_tokens(self, request: dict[str, Any]) -> int:
        return count_in(request.get("prompt"))

    def output_texts(self, body: dict[str, Any]) -> list[str]:
        return [
            choice["text"]
            for choice in body.get("choices") or ()
            if isinstance(choice, dict) and isinstance(choice.get("text"), str)
        ]
