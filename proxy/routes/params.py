"""Every string the API takes from a caller, as one of these constrained types.

Strings reach the database as query parameters and column values, and PostgreSQL
refuses NUL and values longer than a column: unchecked, such input is a server error
on one database and not the other. Each route declares its string parameters and
body fields with these types, so malformed input is a 400 before any query runs, and
the OpenAPI schema states the constraint (a test checks that no string goes
unconstrained).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from proxy.display.conversations import MAX_CHARS
from proxy.store.keys import KEY_NAME_MAX_LENGTH, TEAM_NAME_PATTERN
from proxy.store.tables import ApiKeyRow
from proxy.store.text import PLAIN_TEXT_PATTERN

_KEY_ID_LENGTH: int = ApiKeyRow.__table__.c.key_id.type.length  # type: ignore[attr-defined]

# 1-64 letters, digits, '.', '_' or '-' (team names end up in metric labels and URLs).
TeamName = Annotated[str, StringConstraints(pattern=f"^{TEAM_NAME_PATTERN}$")]
# A key's id as `POST /admin/keys` returns it ("key_" and hex digits).
KeyId = Annotated[str, StringConstraints(pattern=rf"^[A-Za-z0-9_-]{{1,{_KEY_ID_LENGTH}}}$")]
# A key's free-text label.
KeyName = Annotated[
    str, StringConstraints(max_length=KEY_NAME_MAX_LENGTH, pattern=PLAIN_TEXT_PATTERN)
]
# A call's request id (`x-request-id`).
RequestId = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=PLAIN_TEXT_PATTERN)
]
# A conversation id as calls carry it (`x-wattgate-conversation`, the Responses API).
ConversationId = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_CHARS, pattern=PLAIN_TEXT_PATTERN)
]
# Filters and options: comma-separated names, periods, formats.
Text = Annotated[str, StringConstraints(max_length=1000, pattern=PLAIN_TEXT_PATTERN)]


class RequestBody(BaseModel):
    """Base of every JSON body the API takes: types as declared (no `false` for a number,
    no "1" for an integer) and finite numbers only (`Infinity` and `NaN` parse as JSON
    here, but no limit or answer can hold them)."""

    model_config = ConfigDict(strict=True, allow_inf_nan=False)
