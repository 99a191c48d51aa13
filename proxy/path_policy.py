"""Which `/v1` paths a caller may reach, and the path it reaches them by.

Two rules keep a shared provider key from becoming a master key:

- The path goes upstream as the client encoded it (so `models/org%2Fname` stays one
  segment), but never outside the deployment's base path: a dot segment (`.`, `..`,
  also percent-encoded, also after a second decoding), a backslash or a control
  character is refused with a 400 before anything is sent.
- Team keys reach the metered endpoints and an allow-list of pass-through paths
  (`passthrough_paths`, per team in the YAML). Provider-side resources that belong to an
  account rather than a caller (files, batches, fine-tuning jobs, vector stores,
  assistants, stored responses...) cannot be isolated per team behind one shared
  provider key, so they are closed to team keys unless an operator opens them.

Open mode (callers' own provider keys) and the master key reach every path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import unquote_to_bytes

from proxy.auth import Caller
from proxy.errors import BadRequest, PermissionDenied

# Stateless endpoints that hold nothing of an account's: open to every team by default.
DEFAULT_PASSTHROUGH = (
    "GET /v1/models",
    "GET /v1/models/*",
    "POST /v1/moderations",
    "POST /v1/audio/speech",
    "POST /v1/audio/transcriptions",
    "POST /v1/audio/translations",
    "POST /v1/images/generations",
    "POST /v1/images/edits",
    "POST /v1/images/variations",
    "POST /v1/responses/input_tokens",
    "POST /v1/messages/count_tokens",
)

_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")
_UNSAFE = re.compile(rb"[^\x21-\x7e]")  # bytes that may not stand raw in a request line


def upstream_target(scope: Mapping[str, Any]) -> bytes:
    """The path below `/v1` plus the query, as the client encoded them, e.g. b"/models/a%2Fb".

    Raises `BadRequest` for a path that would leave the deployment's base path.
    """
    raw: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
    if not raw.startswith(b"/v1/"):
        raise BadRequest("Request path must start with /v1/ as sent, not percent-encoded.")
    _refuse_escapes(raw)
    target = _UNSAFE.sub(lambda m: b"%%%02X" % m.group()[0], raw[3:])
    query: bytes = scope.get("query_string") or b""
    return target + b"?" + query if query else target


def _refuse_escapes(raw: bytes) -> None:
    if b"%" not in raw and b"/." not in raw and b"\\" not in raw and not _CONTROL.search(raw):
        return  # nothing encoded, no dot segment: the common case, checked in one pass
    path = raw
    for _ in range(3):  # a server that decodes twice must not find a traversal either
        if _CONTROL.search(path):
            raise BadRequest("Request path contains a control character.")
        if b"\\" in path:
            raise BadRequest("Request path contains a backslash.")
        if any(segment in (b".", b"..") for segment in path.split(b"/")):
            raise BadRequest("Request path contains a '.' or '..' segment.")
        decoded = unquote_to_bytes(path)
        if decoded == path:
            return
        path = decoded


class PassthroughPolicy:
    """The pass-through paths each team may reach: `[METHOD ]GLOB` patterns."""

    def __init__(self, common: Iterable[str], per_team: Mapping[str, Iterable[str]]) -> None:
        self._common = tuple(_pattern(p) for p in common)
        self._teams = {team: tuple(_pattern(p) for p in ps) for team, ps in per_team.items()}

    def check(self, caller: Caller, method: str, path: str) -> None:
        """Raises `PermissionDenied` when a team key may not reach `method path`."""
        if caller.key_id is None:  # open mode or the master key
            return
        for rule_method, glob in (*self._common, *self._teams.get(caller.team, ())):
            if (rule_method is None or rule_method == method) and fnmatchcase(path, glob):
                return
        raise PermissionDenied(
            f"{method} {path} is not open to team keys: resources behind the shared provider "
            "key (files, batches, fine-tuning, vector stores...) cannot be kept apart per "
            "team. An operator can allow the path for this team (passthrough_paths)."
        )


def _pattern(text: str) -> tuple[str | None, str]:
    method, _, glob = text.strip().rpartition(" ")
    return (method.strip().upper() or None), glob
