"""What text the database is given: never control characters from callers.

PostgreSQL refuses NUL in `text` and `varchar` values (SQLite stores it), so a NUL that
reached a query would fail it on one database only. Caller input is checked against
`PLAIN_TEXT_PATTERN` before any query runs (the API's parameter types, key names);
values recorded from a call that already happened are made storable instead, since the
row must be written whatever the call carried.
"""

from __future__ import annotations

import re
from typing import Any

CONTROL_CHARACTERS = r"\x00-\x1f\x7f"  # C0 controls and DEL, as a character-class body
PLAIN_TEXT_PATTERN = rf"^[^{CONTROL_CHARACTERS}]*$"
_CONTROL = re.compile(f"[{CONTROL_CHARACTERS}]")


def is_plain(value: str) -> bool:
    """No control characters (tabs and newlines included)."""
    return _CONTROL.search(value) is None


def storable(value: Any) -> Any:
    """`value` with any NUL replaced by U+FFFD, the Unicode replacement character."""
    return value.replace("\x00", "\ufffd") if isinstance(value, str) and "\x00" in value else value
