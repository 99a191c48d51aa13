"""Paths go up as the client encoded them, never outside the base path; team keys reach
only the pass-through paths they are allowed."""

from __future__ import annotations

import pytest

from proxy.auth import Caller
from proxy.errors import BadRequest, PermissionDenied
from proxy.path_policy import DEFAULT_PASSTHROUGH, PassthroughPolicy, upstream_target


def scope(raw: bytes, query: bytes = b"") -> dict:
    from urllib.parse import unquote

    return {"raw_path": raw, "path": unquote(raw.decode("latin-1")), "query_string": query}


@pytest.mark.parametrize(
    ("raw", "query", "target"),
    [
        (b"/v1/models/org%2Fname", b"", b"/models/org%2Fname"),
        (b"/v1/files/a%20b", b"purpose=x&y=%2F", b"/files/a%20b?purpose=x&y=%2F"),
        (b"/v1/models/caf%C3%A9", b"", b"/models/caf%C3%A9"),
        ("/v1/models/café".encode(), b"", b"/models/caf%C3%A9"),  # raw non-ASCII is escaped
        (b"/v1/models/a..b", b"", b"/models/a..b"),
    ],
)
def test_the_client_encoding_is_kept(raw: bytes, query: bytes, target: bytes) -> None:
    assert upstream_target(scope(raw, query)) == target


@pytest.mark.parametrize(
    "raw",
    [
        b"/v1/../internal", b"/v1/..%2F..%2Finternal", b"/v1/%2e%2e/x", b"/v1/files/%2E",
        b"/v1/a/%252e%252e/b", b"/v1/a%00b", b"/v1/a%0d%0aX-Injected:%201", b"/v1/a%5c..%5cb",
        b"/v1/./files",
    ],
)
def test_escapes_from_the_base_path_are_refused(raw: bytes) -> None:
    with pytest.raises(BadRequest):
        upstream_target(scope(raw))


TEAM = Caller(team="search", key_id="k1")
OTHER = Caller(team="batch", key_id="k2")
OPEN = Caller(team="default", upstream_authorization="Bearer sk-own")
ADMIN = Caller(team="admin", is_admin=True)
POLICY = PassthroughPolicy(DEFAULT_PASSTHROUGH, {"batch": ["/v1/files*", "POST /v1/batches"]})


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/models"), ("GET", "/v1/models/gpt-4o"), ("POST", "/v1/audio/speech"),
     ("POST", "/v1/moderations"), ("POST", "/v1/messages/count_tokens")],
)
def test_stateless_paths_are_open_to_every_team(method: str, path: str) -> None:
    POLICY.check(TEAM, method, path)


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/files"), ("GET", "/v1/files/file-1/content"), ("POST", "/v1/batches"),
     ("GET", "/v1/fine_tuning/jobs"), ("DELETE", "/v1/models/ft:gpt-4o:acme"),
     ("GET", "/v1/vector_stores"), ("GET", "/v1/responses/resp_1"),
     ("GET", "/v1/chat/completions"), ("GET", "/v1/messages/batches")],
)
def test_account_scoped_paths_are_closed_to_team_keys(method: str, path: str) -> None:
    with pytest.raises(PermissionDenied):
        POLICY.check(TEAM, method, path)
    POLICY.check(OPEN, method, path)  # open mode: the caller's own provider key
    POLICY.check(ADMIN, method, path)


def test_a_team_reaches_what_it_was_allowed_and_nothing_more() -> None:
    POLICY.check(OTHER, "GET", "/v1/files/file-1")
    POLICY.check(OTHER, "POST", "/v1/batches")
    with pytest.raises(PermissionDenied):
        POLICY.check(OTHER, "GET", "/v1/batches")  # the rule names POST only
    with pytest.raises(PermissionDenied):
        POLICY.check(TEAM, "GET", "/v1/files/file-1")
