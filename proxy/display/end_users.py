"""End users: who a call was made for, as the caller's app says (OpenAI `user` or
`safety_identifier`, Anthropic `metadata.user_id`, else the `x-wattgate-end-user` header
for apps that can only add headers), stored so reports can group by person.

By default the id is stored as a keyed hash (HMAC-SHA-256 with a server secret), so the
database never holds the app's user names or e-mail addresses and nobody without the
secret can test a guess against it. `WATTGATE_END_USER_IDS=plain` stores the id as sent,
`off` stores nothing. The secret is `WATTGATE_END_USER_SECRET`, else derived from the
master key (rotating the master key then starts new pseudonyms: set the secret to keep
them stable).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping
from typing import Any

from proxy.config import Settings

log = logging.getLogger("wattgate.end_users")

HEADER = b"x-wattgate-end-user"
MAX_CHARS = 256  # longer ids are cut (OpenAI accepts up to 64 characters for `user`)
HASH_PREFIX = "u_"
_DERIVE = b"wattgate end-user ids v1\0"
# Open mode with neither secret nor master key: a built-in key. Ids are still not stored
# as sent, but anyone who knows Wattgate can test guesses; the start-up log says so.
_BUILT_IN = b"wattgate open-mode end-user key"


def end_user(request: Mapping[str, Any] | None, endpoint: str,
             headers: Mapping[bytes, bytes] | None = None) -> str | None:
    """The end-user id a request names, or None: Anthropic messages read
    `metadata.user_id`; OpenAI endpoints read `user`, else `safety_identifier`; when the
    body names nobody, the `x-wattgate-end-user` header."""
    value: Any = None
    if request is not None and endpoint == "messages":
        metadata = request.get("metadata")
        value = metadata.get("user_id") if isinstance(metadata, Mapping) else None
    elif request is not None:
        value = request.get("user")
        if not isinstance(value, str) or not value.strip():
            value = request.get("safety_identifier")
    if (not isinstance(value, str) or not value.strip()) and headers is not None:
        raw = headers.get(HEADER)
        value = raw.decode("latin-1") if raw is not None else None
    if not isinstance(value, str) or not value.strip() or not value.isprintable():
        return None
    return value.strip()[:MAX_CHARS]


class EndUserIds:
    """Turns an end-user id into what is stored, per `Settings.end_user_ids`."""

    def __init__(self, mode: str, secret: bytes) -> None:
        self.mode = mode
        self._secret = secret

    @classmethod
    def from_settings(cls, settings: Settings) -> EndUserIds:
        if settings.end_user_secret:
            secret = settings.end_user_secret.encode()
        elif settings.master_key:
            secret = hmac.new(settings.master_key.encode(), _DERIVE, hashlib.sha256).digest()
        else:
            secret = _BUILT_IN
            if settings.end_user_ids == "hashed":
                log.warning(
                    "end-user ids are hashed with a built-in key (no master key, no "
                    "WATTGATE_END_USER_SECRET): set WATTGATE_END_USER_SECRET to keep them "
                    "unguessable"
                )
        return cls(settings.end_user_ids, secret)

    def stored(self, user: str | None) -> str | None:
        """`u_` + 32 hex digits (hashed), the id itself (plain), or None (off)."""
        if user is None or self.mode == "off":
            return None
        if self.mode == "plain":
            return user
        digest = hmac.new(self._secret, user.encode(), hashlib.sha256).hexdigest()
        return HASH_PREFIX + digest[:32]

    def identify(self, request: Mapping[str, Any] | None, endpoint: str,
                 headers: Mapping[bytes, bytes] | None = None) -> str | None:
        """The stored form of the request's end user (`UsageEvent.end_user`)."""
        return self.stored(end_user(request, endpoint, headers))
