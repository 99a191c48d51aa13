"""The annotation line and `impacts.equivalents` end to end, through the official SDKs.

Every annotated answer ends with exactly one line, the one `render_annotation` makes of
the `impacts` the same answer carries; the text before it is the upstream's, unchanged;
tokens (in the answer, in `impacts.usage` and in the stored row) stay the upstream's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import pytest

from estimators.equivalents import equivalents_of
from proxy.config import DisplayPolicy
from proxy.display.annotation import ANNOTATION_PREFIX, render_annotation
from proxy.mock_upstream import MockOptions
from proxy.mock_upstream.content import words
from tests.conformance.replies import (
    CHAT_USAGE,
    EOLS,
    PARALLEL_TOOL_DELTAS,
    TOOL_CALLS,
    ChatCompletion,
    ChatStream,
    UsageShape,
    asks_usage,
    compact,
    sse_reply,
)
from tests.conformance.upstream import Capture, RecordingUpstream, Reply
from tests.integration.conftest import gateway_env
from tests.servers import start_gateway
from tests.wiring import Setup, assert_never_stored, cli_key

MOCK_TEXT = "".join(words(MockOptions().output_tokens))  # the mock's plain answer
SECRET = "Quokka-Lighthouse-7431"  # in every prompt; never in a stored row
PROMPT = [{"role": "user", "content": f"{SECRET}: tell me about the weather"}]
MARK = "⚡"
EN = DisplayPolicy(annotate=True)
FR = DisplayPolicy(annotate=True, language="fr")
DE_TEMPLATE = "{energy} · {water} · {conversation}"
DE = DisplayPolicy(annotate=True, language="de", template=DE_TEMPLATE, energy_unit="mWh")
TOOL = {"type": "function", "function": {"name": "route", "parameters": {
    "type": "object", "properties": {"queue": {"type": "string", "enum": ["a", "b"]}}}}}
SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}

CONFIG = """
models:
  - {name: local-llm, base_url: "MOCK"}
display:
  teams:
    notes: {annotate: true}
    equiv: {equivalents: true}
    fr-team: {annotate: true, language: fr}
    de-team: {annotate: true, language: de, template: "TEMPLATE", units: {energy: mWh}}
  keys:
    KEY_ID: {annotate: true, language: fr}
"""


def line(impacts: dict[str, Any], policy: DisplayPolicy = EN) -> str:
    """What the gateway appends for these impacts."""
    return ANNOTATION_PREFIX + render_annotation(impacts, policy)


@pytest.fixture(scope="module")
def setup(mock_upstream: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """One gateway for the module, whose config names a key made beforehand with the CLI:
    that key of team `plain` (not annotated by team) annotates in French."""
    folder = tmp_path_factory.mktemp("annotation")
    database_url = f"sqlite+aiosqlite:///{folder / 'wattgate.db'}"
    fr_key = cli_key(database_url, "plain")
    plain_key = cli_key(database_url, "plain")
    config = folder / "wattgate.yaml"
    config.write_text(CONFIG.replace("MOCK", mock_upstream).replace("TEMPLATE", DE_TEMPLATE)
                      .replace("KEY_ID", fr_key["key_id"]))
    env = {**gateway_env(mock_upstream, database_url, folder),
           "WATTGATE_ANTHROPIC_BASE_URL": mock_upstream.removesuffix("/v1"),
           "ANTHROPIC_API_KEY": "sk-ant-upstream"}
    gateway = start_gateway(env, config_path=str(config))
    keys = {t: gateway.create_team_key(t) for t in ("notes", "equiv", "fr-team", "de-team")}
    keys.update({"plain": plain_key["key"], "fr-key": fr_key["key"]})
    yield Setup(gateway, database_url, keys)
    gateway.wait_written()
    gateway.stop()
    assert assert_never_stored(database_url, SECRET, ["usage_events"]) > 0


# --- OpenAI chat completions -------------------------------------------------------------


def test_chat_answer_ends_with_the_line(setup: Setup) -> None:
    raw = setup.openai("notes").chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=PROMPT)
    completion = raw.parse()
    impacts = completion.model_extra["impacts"]
    assert completion.choices[0].message.content == MOCK_TEXT + line(impacts)
    assert completion.choices[0].message.content.count(MARK) == 1
    # not metered: the upstream's tokens everywhere
    assert completion.usage is not None
    assert impacts["usage"]["output_tokens"] == completion.usage.completion_tokens
    assert impacts["usage"]["source"] == "upstream"
    row = setup.row(raw.headers["x-request-id"])
    assert row["output_tokens"] == completion.usage.completion_tokens
    assert row["input_tokens"] == completion.usage.prompt_tokens
    assert row["energy_wh"] == pytest.approx(impacts["energy_wh"]["value"], rel=1e-5)


@pytest.mark.parametrize("include_usage", [False, True])
def test_chat_stream_adds_a_content_delta_before_the_finish_chunk(
    setup: Setup, include_usage: bool
) -> None:
    options = {"stream_options": {"include_usage": True}} if include_usage else {}
    tag, end_user = setup.tag(f"stream-{include_usage}")
    with setup.openai("notes").chat.completions.stream(
        model="gpt-4o-mini", messages=PROMPT, extra_headers=tag, **options
    ) as stream:
        chunks = [event.chunk for event in stream if event.type == "chunk"]
        final = stream.get_final_completion()
    finish = [i for i, c in enumerate(chunks) if c.choices and c.choices[0].finish_reason]
    annotated = [i for i, c in enumerate(chunks)
                 if c.choices and MARK in (c.choices[0].delta.content or "")]
    assert len(finish) == 1 and annotated == [finish[0] - 1]
    carrier = chunks[-1] if include_usage else chunks[finish[0]]
    impacts = carrier.model_extra["impacts"]
    assert final.choices[0].message.content == MOCK_TEXT + line(impacts)
    assert chunks[annotated[0]].choices[0].finish_reason is None
    if include_usage:  # the usage chunk the client asked for comes last, unchanged
        assert chunks[-1].choices == [] and chunks[-1].usage is not None
        assert chunks[-1].usage.completion_tokens == impacts["usage"]["output_tokens"]
        assert final.usage is not None and final.usage.completion_tokens == len(
            words(MockOptions().output_tokens))
    else:  # the usage chunk the gateway asked for is gone
        assert finish[0] == len(chunks) - 1
    row = setup.row(end_user, "end_user")
    assert row["output_tokens"] == impacts["usage"]["output_tokens"] == MockOptions().output_tokens


def test_header_wins_over_config(setup: Setup) -> None:
    off = setup.openai("notes").chat.completions.create(
        model="gpt-4o-mini", messages=PROMPT, extra_headers={"x-wattgate-annotate": "off"})
    assert off.choices[0].message.content == MOCK_TEXT
    plain = setup.openai("plain")
    assert plain.chat.completions.create(
        model="gpt-4o-mini", messages=PROMPT).choices[0].message.content == MOCK_TEXT
    on = plain.chat.completions.create(model="gpt-4o-mini", messages=PROMPT,
                                       extra_headers={"x-wattgate-annotate": "on"})
    assert on.choices[0].message.content == MOCK_TEXT + line(on.model_extra["impacts"])
    with plain.chat.completions.stream(model="gpt-4o-mini", messages=PROMPT,
                                       extra_headers={"x-wattgate-annotate": "on"}) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content.startswith(MOCK_TEXT + ANNOTATION_PREFIX + MARK)
    response = setup.openai("notes").responses.create(
        model="gpt-4o-mini", input=SECRET, extra_headers={"x-wattgate-annotate": "off"})
    assert response.output_text == MOCK_TEXT
    mock = setup.gateway.env["WATTGATE_UPSTREAM_BASE_URL"].removesuffix("/v1")
    seen = httpx.get(mock + "/mock/last-request", timeout=10).json()
    assert seen["path"] == "/v1/responses"
    assert not [name for name in seen["headers"] if name.startswith("x-wattgate-")]


def test_each_choice_of_a_plain_n2_answer_is_annotated_a_stream_is_not(setup: Setup) -> None:
    client = setup.openai("notes")
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=PROMPT, n=2)
    expected = MOCK_TEXT + line(completion.model_extra["impacts"])
    assert [c.message.content for c in completion.choices] == [expected, expected]
    with client.chat.completions.stream(model="gpt-4o-mini", messages=PROMPT, n=2) as stream:
        final = stream.get_final_completion()
    assert [c.message.content for c in final.choices] == [MOCK_TEXT, MOCK_TEXT]


# --- OpenAI Responses --------------------------------------------------------------------


def test_responses_plain_and_streamed(setup: Setup) -> None:
    client = setup.openai("notes")
    raw = client.responses.with_raw_response.create(model="gpt-4o-mini", input=SECRET)
    response = raw.parse()
    impacts = response.model_extra["impacts"]
    assert response.output_text == MOCK_TEXT + line(impacts)
    assert response.usage is not None
    row = setup.row(raw.headers["x-request-id"])
    assert row["output_tokens"] == response.usage.output_tokens == impacts["usage"][
        "output_tokens"]

    with client.responses.stream(model="gpt-4o-mini", input=SECRET) as stream:
        events = list(stream)
        final = stream.get_final_response()
    impacts = events[-1].response.model_extra["impacts"]
    text = MOCK_TEXT + line(impacts)
    assert final.output_text == text
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [e for e in events if e.type == "response.output_text.delta"]
    assert "".join(e.delta for e in deltas) == text
    assert deltas[-1].delta == line(impacts) and deltas[-1].item_id == deltas[0].item_id
    (done,) = [e for e in events if e.type == "response.output_text.done"]
    (part,) = [e for e in events if e.type == "response.content_part.done"]
    (item,) = [e for e in events if e.type == "response.output_item.done"]
    assert done.text == part.part.text == item.item.content[0].text == text
    assert events.index(deltas[-1]) < events.index(done)
    assert final.usage is not None
    row = setup.row(final.id, "response_id")
    assert row["output_tokens"] == final.usage.output_tokens == MockOptions().output_tokens


# --- Anthropic Messages, direct and translated to an OpenAI-format deployment -----------


@pytest.mark.parametrize("model", ["claude-3-5-haiku-latest", "local-llm"])
def test_messages_get_a_text_block_of_their_own(setup: Setup, model: str) -> None:
    client = setup.anthropic("notes")
    raw = client.messages.with_raw_response.create(model=model, max_tokens=64,
                                                   messages=PROMPT)
    message = raw.parse()
    impacts = message.model_extra["impacts"]
    assert [b.type for b in message.content] == ["text", "text"]
    assert message.content[0].text == MOCK_TEXT
    assert message.content[1].text == line(impacts)
    assert message.usage.output_tokens == impacts["usage"]["output_tokens"]
    assert setup.row(raw.headers["x-request-id"])["output_tokens"] == message.usage.output_tokens

    with client.messages.stream(model=model, max_tokens=64, messages=PROMPT) as stream:
        events = list(stream)
        final = stream.get_final_message()
    (delta,) = [e for e in events if e.type == "message_delta"]
    impacts = delta.model_extra["impacts"]
    assert [b.type for b in final.content] == ["text", "text"]
    assert final.content[0].text == MOCK_TEXT and final.content[1].text == line(impacts)
    starts = [e.index for e in events if e.type == "content_block_start"]
    stops = [e.index for e in events if e.type == "content_block_stop"]
    assert starts == stops == [0, 1]
    assert events.index(delta) > max(i for i, e in enumerate(events)
                                     if e.type == "content_block_stop")
    assert final.usage.output_tokens == impacts["usage"]["output_tokens"]
    row = setup.row(stream.response.headers["x-request-id"])
    assert row["output_tokens"] == final.usage.output_tokens == MockOptions().output_tokens


# --- Never where it would break the caller ----------------------------------------------


def test_structured_answers_are_never_annotated(setup: Setup) -> None:
    on = {"x-wattgate-annotate": "on"}
    client = setup.openai("notes")
    forced = client.chat.completions.create(
        model="gpt-4o-mini", messages=PROMPT, tools=[TOOL], tool_choice="required",
        extra_headers=on)
    assert forced.choices[0].message.tool_calls and forced.choices[0].message.content is None
    with client.chat.completions.stream(model="gpt-4o-mini", messages=PROMPT, tools=[TOOL],
                                        tool_choice="required") as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.tool_calls and not final.choices[0].message.content
    for fmt in ({"type": "json_object"},
                {"type": "json_schema", "json_schema": {"name": "a", "schema": SCHEMA}}):
        answer = client.chat.completions.create(model="gpt-4o-mini", messages=PROMPT,
                                                response_format=fmt, extra_headers=on)
        assert MARK not in answer.choices[0].message.content
        assert answer.model_extra["impacts"]["usage"]["source"] == "upstream"  # metered
    text_format = {"format": {"type": "json_schema", "name": "a", "schema": SCHEMA}}
    response = client.responses.create(model="gpt-4o-mini", input=SECRET, text=text_format)
    assert MARK not in response.output_text
    with client.responses.stream(model="gpt-4o-mini", input=SECRET,
                                 text=text_format) as rstream:
        assert MARK not in rstream.get_final_response().output_text
    embedding = client.embeddings.create(model="text-embedding-3-small", input=SECRET,
                                         extra_headers=on)
    assert "impacts" in embedding.model_extra
    completion = client.completions.create(model="gpt-3.5-turbo-instruct", prompt=SECRET,
                                           extra_headers=on)
    assert completion.choices[0].text == MOCK_TEXT and "impacts" in completion.model_extra

    claude = setup.anthropic("notes")
    tool = {"name": "route", "input_schema": TOOL["function"]["parameters"]}
    for model in ("claude-3-5-haiku-latest", "local-llm"):
        message = claude.messages.create(model=model, max_tokens=64, messages=PROMPT,
                                         tools=[tool], tool_choice={"type": "any"})
        assert [b.type for b in message.content] == ["tool_use"]
        with claude.messages.stream(model=model, max_tokens=64, messages=PROMPT, tools=[tool],
                                    tool_choice={"type": "tool", "name": "route"}) as mstream:
            assert [b.type for b in mstream.get_final_message().content] == ["tool_use"]


@dataclass
class Recorded:
    upstream: RecordingUpstream
    client: openai.OpenAI


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    """A gateway with the annotation on for everyone, on a scripted upstream that answers
    the way real servers do, quirks included."""
    folder = tmp_path_factory.mktemp("recorded")
    database_url = f"sqlite+aiosqlite:///{folder / 'wattgate.db'}"
    upstream = RecordingUpstream().start()
    config = folder / "wattgate.yaml"
    config.write_text("display: {annotate: true}\n")
    gateway = start_gateway(gateway_env(upstream.url + "/v1", database_url, folder),
                            config_path=str(config))
    client = openai.OpenAI(base_url=gateway.base_url, max_retries=0,
                           api_key=gateway.create_team_key("notes"))
    yield Recorded(upstream, client)
    gateway.wait_written()
    gateway.stop()
    upstream.stop()
    assert assert_never_stored(database_url, SECRET, ["usage_events"]) > 0


def test_tool_calls_the_model_chose_are_never_annotated(recorded: Recorded) -> None:
    """`tool_choice: auto` may or may not end in a tool call: only the answer says."""
    upstream, client = recorded.upstream, recorded.client
    upstream.script(ChatCompletion(content=None, tool_calls=TOOL_CALLS,
                                   finish_reason="tool_calls"))
    calls = client.chat.completions.create(model="gpt-4o", messages=PROMPT, tools=[TOOL])
    assert calls.choices[0].message.content is None
    assert len(calls.choices[0].message.tool_calls or ()) == 2
    upstream.script(ChatStream(deltas=PARALLEL_TOOL_DELTAS, finish_reason="tool_calls"))
    with client.chat.completions.stream(model="gpt-4o", messages=PROMPT,
                                        tools=[TOOL]) as stream:
        chunks = [e.chunk for e in stream if e.type == "chunk"]
        final = stream.get_final_completion()
    assert not final.choices[0].message.content
    assert len(final.choices[0].message.tool_calls or ()) == 2
    assert all(MARK not in (c.choices[0].delta.content or "") for c in chunks if c.choices)
    assert "impacts" in chunks[-1].model_extra
    # the same upstream answering in text is annotated
    upstream.script(ChatCompletion())
    answer = client.chat.completions.create(model="gpt-4o", messages=PROMPT, tools=[TOOL])
    assert answer.choices[0].message.content == "Hello there!" + line(
        answer.model_extra["impacts"])


@pytest.mark.parametrize(("usage_shape", "eol", "keepalive"), [
    ("on_finish_chunk", "lf", False),  # vLLM and some proxies: usage on the finish chunk
    ("empty_choices", "crlf", True),  # OpenAI's shape, CRLF lines, `: ping` comments
    ("null_choices", "cr", False),
    ("no_choices", "lf", False),
])
def test_streams_of_every_shape_get_the_line(recorded: Recorded, usage_shape: UsageShape,
                                             eol: str, keepalive: bool) -> None:
    recorded.upstream.script(ChatStream(usage_shape=usage_shape, eol=EOLS[eol],
                                        keepalive=keepalive))
    with recorded.client.chat.completions.stream(model="gpt-4o", messages=PROMPT) as stream:
        chunks = [e.chunk for e in stream if e.type == "chunk"]
        final = stream.get_final_completion()
    (carrier,) = [c for c in chunks if "impacts" in (c.model_extra or {})]
    assert final.choices[0].message.content == "Hello there!" + line(
        carrier.model_extra["impacts"])
    assert carrier.model_extra["impacts"]["usage"]["output_tokens"] == CHAT_USAGE[
        "completion_tokens"]


# --- Languages, templates, per-key settings ---------------------------------------------


def test_language_template_and_per_key_settings(setup: Setup) -> None:
    for who, policy in (("fr-team", FR), ("de-team", DE), ("fr-key", FR)):
        completion = setup.openai(who).chat.completions.create(model="gpt-4o-mini",
                                                               messages=PROMPT)
        content = completion.choices[0].message.content
        assert content == MOCK_TEXT + line(completion.model_extra["impacts"], policy), who
    fr = setup.openai("fr-team").chat.completions.create(model="gpt-4o-mini", messages=PROMPT)
    assert "d'eau" in (fr.choices[0].message.content or "")
    de = setup.openai("de-team").chat.completions.create(model="gpt-4o-mini", messages=PROMPT)
    tail = (de.choices[0].message.content or "").removeprefix(MOCK_TEXT + ANNOTATION_PREFIX)
    assert " mWh · " in tail and "Wasser" in tail and "CO₂e" not in tail
    # the key's team-mate without a per-key setting is not annotated
    plain = setup.openai("plain").chat.completions.create(model="gpt-4o-mini", messages=PROMPT)
    assert plain.choices[0].message.content == MOCK_TEXT


# --- Everyday equivalents ----------------------------------------------------------------


def _has_equivalents(impacts: dict[str, Any]) -> bool:
    if "equivalents" not in impacts:
        return False
    plain = {k: v for k, v in impacts.items() if k != "equivalents"}
    assert impacts["equivalents"] == equivalents_of(plain)
    return True


def test_equivalents_only_when_asked(setup: Setup) -> None:
    ask = {"x-wattgate-equivalents": "on"}
    for team, headers, wanted in (("notes", {}, False), ("notes", ask, True),
                                  ("equiv", {}, True),
                                  ("equiv", {"x-wattgate-equivalents": "off"}, False)):
        client = setup.openai(team)
        chat = client.chat.completions.create(model="gpt-4o-mini", messages=PROMPT,
                                              extra_headers=headers)
        assert _has_equivalents(chat.model_extra["impacts"]) is wanted, (team, headers)
        with client.chat.completions.stream(model="gpt-4o-mini", messages=PROMPT,
                                            extra_headers=headers) as stream:
            chunks = [e.chunk for e in stream if e.type == "chunk"]
        assert _has_equivalents(chunks[-1].model_extra["impacts"]) is wanted
        with client.responses.stream(model="gpt-4o-mini", input=SECRET,
                                     extra_headers=headers) as rstream:
            events = list(rstream)
        assert _has_equivalents(events[-1].response.model_extra["impacts"]) is wanted
        embedding = client.embeddings.create(model="text-embedding-3-small", input=SECRET,
                                             extra_headers=headers)
        assert _has_equivalents(embedding.model_extra["impacts"]) is wanted
        with setup.anthropic(team).messages.stream(
            model="claude-3-5-haiku-latest", max_tokens=64, messages=PROMPT,
            extra_headers=headers,
        ) as mstream:
            (delta,) = [e for e in mstream if e.type == "message_delta"]
        assert _has_equivalents(delta.model_extra["impacts"]) is wanted
    equivalents = setup.openai("equiv").chat.completions.create(
        model="gpt-4o-mini", messages=PROMPT).model_extra["impacts"]["equivalents"]
    # honest at small scales: no zero figures
    assert equivalents and all(
        value > 0 for value in _numbers(equivalents)), equivalents


def _numbers(value: Any) -> Iterator[float]:
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        yield float(value)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _numbers(item)
    elif isinstance(value, list):
        for item in value:
            yield from _numbers(item)


def _counted_tokens(setup: Setup, protocol: str, annotate: str) -> tuple[str, int]:
    """(answer text, stored output tokens) of a streamed call whose upstream reports no
    usage, so the gateway counts the tokens itself (Anthropic's own streams always report
    it; `local-llm` is a Messages call translated to an OpenAI-format upstream)."""
    headers = {"x-mock-no-usage": "1", "x-wattgate-annotate": annotate}
    if protocol == "chat":
        tag, end_user = setup.tag(f"counted-{annotate}")
        with setup.openai("plain").chat.completions.stream(
                model="gpt-4o-mini", messages=PROMPT, extra_headers={**headers, **tag}) as chat:
            final = chat.get_final_completion()
        row = setup.row(end_user, "end_user")
        assert row["usage_source"] == "estimated"
        return final.choices[0].message.content or "", row["output_tokens"]
    if protocol == "responses":
        with setup.openai("plain").responses.stream(
                model="gpt-4o-mini", input=SECRET, extra_headers=headers) as responses:
            events = list(responses)
        text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
        return text, setup.row(events[0].response.id, "response_id")["output_tokens"]
    with setup.anthropic("plain").messages.stream(
            model=protocol, max_tokens=64, messages=PROMPT, extra_headers=headers) as messages:
        message = messages.get_final_message()
        request_id = messages.response.headers["x-request-id"]
    row = setup.row(request_id)
    assert row["usage_source"] == "estimated"
    return "".join(b.text for b in message.content if b.type == "text"), row["output_tokens"]


@pytest.mark.parametrize("protocol", ["chat", "responses", "local-llm"])
def test_tokens_counted_locally_leave_the_line_out(setup: Setup, protocol: str) -> None:
    plain_text, plain_tokens = _counted_tokens(setup, protocol, "off")
    annotated_text, annotated_tokens = _counted_tokens(setup, protocol, "on")
    assert plain_text == MOCK_TEXT and annotated_text.startswith(MOCK_TEXT + ANNOTATION_PREFIX)
    assert annotated_tokens == plain_tokens > 0


def _last_text_with_the_finish(capture: Capture) -> Reply:
    """A stream whose last text comes in the chunk that says it finished (Google's
    OpenAI-compatible endpoint does this), with the usage chunk when asked."""
    head = {"id": "chatcmpl-last", "object": "chat.completion.chunk", "created": 1,
            "model": "gemini-2.0-flash"}

    def chunk(delta: dict[str, Any], finish: str | None) -> bytes:
        return b"data: " + compact({**head, "choices": [
            {"index": 0, "delta": delta, "finish_reason": finish}]})

    events = [chunk({"role": "assistant", "content": "Hello"}, None),
              chunk({"content": " there!"}, "stop")]
    if asks_usage(capture):
        events.append(b"data: " + compact({**head, "choices": [], "usage": CHAT_USAGE}))
    return sse_reply([*events, b"data: [DONE]"])


@pytest.mark.parametrize("include_usage", [False, True])
def test_the_line_follows_text_sent_with_the_finish(recorded: Recorded,
                                                    include_usage: bool) -> None:
    recorded.upstream.script(_last_text_with_the_finish)
    options = {"stream_options": {"include_usage": True}} if include_usage else {}
    with recorded.client.chat.completions.stream(model="gpt-4o", messages=PROMPT,
                                                 **options) as stream:
        chunks = [e.chunk for e in stream if e.type == "chunk"]
        final = stream.get_final_completion()
    impacts = chunks[-1].model_extra["impacts"]
    assert final.choices[0].message.content == "Hello there!" + line(impacts)
    assert final.choices[0].finish_reason == "stop"
    assert len(chunks) == 3 if include_usage else 2  # no chunk added: the text grew
