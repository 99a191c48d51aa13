"""Conversation ids and end users, as read from requests; end-user ids as stored."""

from __future__ import annotations

import pytest

from proxy.config import load_settings
from proxy.display.conversations import ConversationRef, conversation_id
from proxy.display.end_users import EndUserIds, end_user

H = b"x-wattgate-conversation"


def test_header_wins_everywhere() -> None:
    request = {"previous_response_id": "resp_1", "conversation": "conv_1"}
    assert conversation_id({H: b"chat-42"}, request, "responses") == ConversationRef(
        "chat-42", "header")
    assert conversation_id({H: b" chat-42 "}, None, "chat.completions") == ConversationRef(
        "chat-42", "header")
    assert conversation_id({H: b"c"}, {}, "messages") == ConversationRef("c", "header")


def test_responses_api_fields() -> None:
    assert conversation_id({}, {"conversation": "conv_1", "previous_response_id": "resp_1"},
                           "responses") == ConversationRef("conv_1", "conversation")
    assert conversation_id({}, {"conversation": {"id": "conv_2"}}, "responses") == (
        ConversationRef("conv_2", "conversation"))
    assert conversation_id({}, {"previous_response_id": "resp_1"}, "responses") == (
        ConversationRef("resp_1", "previous_response"))


@pytest.mark.parametrize(("headers", "request_", "endpoint"), [
    ({}, {"previous_response_id": "resp_1"}, "chat.completions"),  # only the Responses API
    ({}, {"conversation": "c"}, "messages"),
    ({}, None, "responses"),
    ({}, {"conversation": 42, "previous_response_id": None}, "responses"),
    ({H: b""}, {}, "chat.completions"),
    ({H: b"x" * 201}, {}, "chat.completions"),
    ({H: b"bad\x01id"}, {}, "chat.completions"),
    ({}, {"conversation": {"id": ""}}, "responses"),
])
def test_no_conversation(headers: dict[bytes, bytes], request_: dict[str, object] | None,
                         endpoint: str) -> None:
    assert conversation_id(headers, request_, endpoint) is None


def test_a_bad_header_falls_back_to_the_body() -> None:
    assert conversation_id({H: b"\x00"}, {"conversation": "conv_1"}, "responses") == (
        ConversationRef("conv_1", "conversation"))


@pytest.mark.parametrize(("request_", "endpoint", "user"), [
    ({"user": "alice@example.com"}, "chat.completions", "alice@example.com"),
    ({"user": "bob"}, "responses", "bob"),
    ({"user": "bob"}, "embeddings", "bob"),
    ({"safety_identifier": "hash-1"}, "responses", "hash-1"),
    ({"user": "", "safety_identifier": "hash-1"}, "chat.completions", "hash-1"),
    ({"metadata": {"user_id": "u-9"}}, "messages", "u-9"),
    ({"user": "not-read-here"}, "messages", None),
    ({"metadata": "u-9"}, "messages", None),
    ({"user": 12}, "chat.completions", None),
    ({"user": "   "}, "chat.completions", None),
    (None, "chat.completions", None),
])
def test_end_user(request_: dict[str, object] | None, endpoint: str, user: str | None) -> None:
    assert end_user(request_, endpoint) == user


def test_end_user_header_when_the_body_names_nobody() -> None:
    headers = {b"x-wattgate-end-user": b"owui-user-7"}
    assert end_user({"user": "alice"}, "chat.completions", headers) == "alice"
    assert end_user({}, "chat.completions", headers) == "owui-user-7"
    assert end_user(None, "responses", headers) == "owui-user-7"
    assert end_user({"metadata": {}}, "messages", headers) == "owui-user-7"
    assert end_user({}, "chat.completions", {b"x-wattgate-end-user": b"bad\x01"}) is None
    assert end_user({}, "chat.completions", {}) is None


def test_long_end_user_ids_are_cut() -> None:
    assert end_user({"user": "x" * 1000}, "chat.completions") == "x" * 256


def test_hashed_by_default_keyed_by_the_secret() -> None:
    a = EndUserIds.from_settings(load_settings(env={"WATTGATE_MASTER_KEY": "m1"}))
    b = EndUserIds.from_settings(load_settings(env={"WATTGATE_MASTER_KEY": "m2"}))
    stored = a.stored("alice@example.com")
    assert stored is not None and stored.startswith("u_") and len(stored) == 34
    assert "alice" not in stored
    assert a.stored("alice@example.com") == stored  # stable: reports can group by it
    assert a.stored("bob@example.com") != stored
    assert b.stored("alice@example.com") != stored  # another secret, another pseudonym
    explicit = load_settings(env={"WATTGATE_MASTER_KEY": "m2",
                                  "WATTGATE_END_USER_SECRET": "kept"})
    again = load_settings(env={"WATTGATE_MASTER_KEY": "m3", "WATTGATE_END_USER_SECRET": "kept"})
    assert EndUserIds.from_settings(explicit).stored("a") == (
        EndUserIds.from_settings(again).stored("a"))
    assert a.stored(None) is None


def test_plain_and_off() -> None:
    plain = EndUserIds.from_settings(load_settings(env={"WATTGATE_END_USER_IDS": "plain"}))
    assert plain.identify({"user": "alice"}, "chat.completions") == "alice"
    off = EndUserIds.from_settings(load_settings(env={"WATTGATE_END_USER_IDS": "off"}))
    assert off.identify({"user": "alice"}, "chat.completions") is None


def test_open_mode_still_hashes(caplog: pytest.LogCaptureFixture) -> None:
    ids = EndUserIds.from_settings(load_settings(env={}))
    assert ids.identify({"user": "alice"}, "chat.completions") != "alice"
    assert "WATTGATE_END_USER_SECRET" in caplog.text
