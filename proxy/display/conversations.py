"""Which conversation a call belongs to, from what the client sent (pure).

A conversation id comes from, in this order:

1. the `x-wattgate-conversation` header (any app can send it; chat apps can be
   configured to send their chat id);
2. the Responses API's `conversation` (an id, or `{"id": ...}`);
3. the Responses API's `previous_response_id`: the call continues the conversation of
   the call that produced that response. Resolving it needs what was recorded
   (`proxy.display.conversation_totals.ConversationTotals.resolve`): the conversation of that
   call, or, when that call had none (it started the chain), its response id.

So a Responses chain without any explicit id is named by its first response id, and
`GET /v1/conversations/{id}/impacts` also answers for a response id: a stored call
belongs to conversation X when its `conversation_id` is X or its `response_id` is X.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

HEADER = b"x-wattgate-conversation"
MAX_CHARS = 200  # longer ids are ignored

Source = Literal["header", "conversation", "previous_response"]


@dataclass(frozen=True, slots=True)
class ConversationRef:
    """A conversation id as the request gave it; `previous_response` ones still need
    resolving to the conversation that response belongs to."""

    id: str
    source: Source


def conversation_id(
    headers: Mapping[bytes, bytes], request: Mapping[str, Any] | None, endpoint: str
) -> ConversationRef | None:
    """The request's conversation (see the module docstring), or None. Ids that are empty,
    longer than 200 characters or contain control characters are ignored."""
    raw = headers.get(HEADER)
    if raw is not None:
        value = _valid(raw.decode("latin-1"))
        if value is not None:
            return ConversationRef(value, "header")
    if endpoint != "responses" or request is None:
        return None
    conversation = request.get("conversation")
    if isinstance(conversation, Mapping):
        conversation = conversation.get("id")
    value = _valid(conversation)
    if value is not None:
        return ConversationRef(value, "conversation")
    value = _valid(request.get("previous_response_id"))
    return ConversationRef(value, "previous_response") if value is not None else None


def _valid(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value or len(value) > MAX_CHARS or not value.isprintable():
        return None
    return value
