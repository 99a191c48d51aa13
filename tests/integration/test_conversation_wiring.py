"""Conversations and end users end to end: ids from the header and from Responses chains
land on the rows, the annotation shows the conversation's running total, the API's totals
equal the rows, and end users are stored hashed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from proxy.config import DisplayPolicy
from proxy.display.annotation import ANNOTATION_PREFIX, render_annotation
from tests.integration.conftest import GatewayFactory
from tests.wiring import Setup, assert_never_stored, rows_of, table

SECRET = "Axolotl-Semaphore-2291"  # in every prompt and end-user id; never stored
PROMPT = [{"role": "user", "content": f"{SECRET}: how are you?"}]
EN = DisplayPolicy(annotate=True)
CONFIG = "display: {teams: {notes: {annotate: true}}}"


def totals(setup: Setup, who: str, conversation: str) -> httpx.Response:
    """`GET /v1/conversations/{conversation}/impacts` with that key."""
    return httpx.get(f"{setup.gateway.base_url}/conversations/{conversation}/impacts",
                     headers={"Authorization": f"Bearer {setup.keys[who]}"}, timeout=10)


@pytest.fixture
def setup(make_gateway: GatewayFactory, mock_upstream: str, db_url: str) -> Iterator[Setup]:
    gateway = make_gateway(database_url=db_url, config=CONFIG,
                           WATTGATE_ANTHROPIC_BASE_URL=mock_upstream.removesuffix("/v1"),
                           ANTHROPIC_API_KEY="sk-ant-upstream")
    keys = {team: gateway.create_team_key(team) for team in ("notes", "other")}
    yield Setup(gateway, db_url, keys)
    gateway.wait_written()
    assert assert_never_stored(db_url, SECRET, ["usage_events"]) > 0


def running_total(text: str, impacts: dict[str, Any], total_wh: float) -> None:
    """`text` ends with the line for `impacts` showing `total_wh` for the conversation."""
    expected = ANNOTATION_PREFIX + render_annotation(impacts, EN, conversation_wh=total_wh)
    assert text.endswith(expected), (text, expected)
    assert text.count("⚡") == 1


def test_header_conversation_across_protocols(setup: Setup) -> None:
    conversation = {"x-wattgate-conversation": "c1"}
    chat = setup.openai("notes").chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=PROMPT, extra_headers=conversation)
    message = setup.anthropic("notes").messages.with_raw_response.create(
        model="claude-3-5-haiku-latest", max_tokens=64, messages=PROMPT,
        extra_headers=conversation)
    with setup.openai("notes").responses.stream(model="gpt-4o-mini", input=SECRET,
                                                extra_headers=conversation) as stream:
        events = list(stream)
    unrelated = setup.openai("notes").chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=PROMPT)
    ids = [chat.headers["x-request-id"], message.headers["x-request-id"]]
    rows = rows_of(setup.database_url, ids)
    (last,) = rows_of(setup.database_url, [events[0].response.id], "response_id")
    rows.append(last)
    assert [r["conversation_id"] for r in rows] == ["c1"] * 3
    (alone,) = rows_of(setup.database_url, [unrelated.headers["x-request-id"]])
    assert alone["conversation_id"] is None

    first = chat.parse()
    running_total(first.choices[0].message.content or "", first.model_extra["impacts"],
                  rows[0]["energy_wh"])
    second = message.parse()
    running_total(second.content[-1].text, second.model_extra["impacts"],
                  rows[0]["energy_wh"] + rows[1]["energy_wh"])
    final = stream.get_final_response()
    running_total(final.output_text, events[-1].response.model_extra["impacts"],
                  sum(r["energy_wh"] for r in rows))

    body = totals(setup, "notes", "c1").json()
    assert body["requests"] == 3
    assert body["impacts"]["energy_wh"]["value"] == pytest.approx(
        sum(r["energy_wh"] for r in rows), rel=1e-9)
    assert body["usage"]["output_tokens"] == sum(r["output_tokens"] for r in rows)
    missing = totals(setup, "other", "c1")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"


def test_responses_chain_is_one_conversation_per_team(setup: Setup) -> None:
    client = setup.openai("notes")
    first = client.responses.create(model="gpt-4o-mini", input=SECRET)
    second = client.responses.create(model="gpt-4o-mini", input=SECRET,
                                     previous_response_id=first.id)
    with client.responses.stream(model="gpt-4o-mini", input=SECRET,
                                 previous_response_id=second.id) as stream:
        events = list(stream)
    third = stream.get_final_response()
    rows = rows_of(setup.database_url, [first.id, second.id, third.id], "response_id")
    assert [r["conversation_id"] for r in rows] == [None, first.id, first.id]
    running_total(second.output_text, second.model_extra["impacts"],
                  rows[0]["energy_wh"] + rows[1]["energy_wh"])
    running_total(third.output_text, events[-1].response.model_extra["impacts"],
                  sum(r["energy_wh"] for r in rows))
    body = totals(setup, "notes", first.id).json()
    assert body["requests"] == 3
    assert body["impacts"]["energy_wh"]["value"] == pytest.approx(
        sum(r["energy_wh"] for r in rows), rel=1e-9)

    # Another team naming that response starts its own conversation: it sees none of ours.
    other = setup.openai("other").responses.create(
        model="gpt-4o-mini", input=SECRET, previous_response_id=first.id,
        extra_headers={"x-wattgate-annotate": "on"})
    (row,) = rows_of(setup.database_url, [other.id], "response_id")
    assert row["conversation_id"] == first.id and row["team"] == "other"
    running_total(other.output_text, other.model_extra["impacts"], row["energy_wh"])
    assert totals(setup, "other", first.id).json()["requests"] == 1
    assert totals(setup, "notes", first.id).json()["requests"] == 3

    named = client.responses.create(model="gpt-4o-mini", input=SECRET,
                                    extra_body={"conversation": "conv_wiring"})
    (row,) = rows_of(setup.database_url, [named.id], "response_id")
    assert row["conversation_id"] == "conv_wiring"


def test_end_users_are_stored_hashed(setup: Setup) -> None:
    person = f"{SECRET}@example.com"
    chat = setup.openai("notes").chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=PROMPT, user=person)
    message = setup.anthropic("notes").messages.with_raw_response.create(
        model="claude-3-5-haiku-latest", max_tokens=64, messages=PROMPT,
        metadata={"user_id": person})
    someone = setup.openai("notes").chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=PROMPT, user="someone-else")
    header = setup.openai("notes").chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=PROMPT, extra_headers={"x-wattgate-end-user": person})
    rows = rows_of(setup.database_url, [r.headers["x-request-id"]
                                        for r in (chat, message, someone, header)])
    users = [r["end_user"] for r in rows]
    assert all(isinstance(u, str) and u.startswith("u_") for u in users)
    assert users[0] == users[1] == users[3] != users[2]
    assert all("someone" not in str(value) for row in table(setup.database_url, "usage_events")
               for value in row.values())
