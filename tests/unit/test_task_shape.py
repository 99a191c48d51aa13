"""Task shape: every signal fires on its own cue and not without it; the decision rule."""

from __future__ import annotations

from typing import Any

import pytest

from proxy.events import UsageEvent
from proxy.tasks import SIGNALS, TASKS, classify, label_event, shape_request
from proxy.tasks.keywords import KEYWORDS
from proxy.usage import TokenUsage

LABELS = {"type": "string", "enum": ["billing", "shipping", "other"]}


def chat(text: str = "Hello there", **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": text}], **extra}


def schema_format(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "out", "schema": schema}}


def obj(**props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": list(props)}


def function(name: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "parameters": params}}


# One case per signal: (endpoint, request, token counts) that fires it.
FIRES: dict[str, tuple[str, dict[str, Any] | None, TokenUsage | None]] = {
    "ep:emb": ("embeddings", {"input": "hi"}, None),
    "rf:enum": ("chat.completions", chat(response_format=schema_format(obj(label=LABELS))), None),
    "rf:schema": ("chat.completions", chat(response_format=schema_format(
        obj(name={"type": "string"}, city={"type": "string"}))), None),
    "rf:json": ("chat.completions", chat(response_format={"type": "json_object"}), None),
    "tool:enum": ("chat.completions", chat(
        tools=[function("route", obj(queue=LABELS))],
        tool_choice={"type": "function", "function": {"name": "route"}}), None),
    "tool:schema": ("chat.completions", chat(
        tools=[function("save", obj(name={"type": "string"}, items={"type": "array"}))],
        tool_choice="required"), None),
    "tools": ("chat.completions", chat(tools=[function("search", obj(q={"type": "string"}))]),
              None),
    "max:tiny": ("chat.completions", chat(max_tokens=3), None),
    "lb": ("chat.completions", chat(logit_bias={"9642": 100, "2822": 100}), None),
    "rq:rsn": ("chat.completions", chat(reasoning_effort="high"), None),
    "fence": ("chat.completions", chat("Why does this fail?\n```\nx = 1 +\n```"), None),
    "out:tiny": ("chat.completions", chat(), TokenUsage(input_tokens=50, output_tokens=2)),
    "io:cmp": ("chat.completions", chat(), TokenUsage(input_tokens=4000, output_tokens=200)),
    "io:exp": ("chat.completions", chat(), TokenUsage(input_tokens=20, output_tokens=900)),
    "rs:tok": ("chat.completions", chat(),
               TokenUsage(input_tokens=50, output_tokens=700, reasoning_tokens=600)),
    "kw:cls": ("chat.completions", chat("Classify this review."), None),
    "kw:ext": ("chat.completions", chat("Extract the invoice number."), None),
    "kw:json": ("chat.completions", chat("Reply in JSON."), None),
    "kw:sum": ("chat.completions", chat("Summarize the meeting notes below."), None),
    "kw:code": ("chat.completions", chat("Please refactor my Python module."), None),
    "kw:rsn": ("chat.completions", chat("Solve it step by step."), None),
    "kw:gen": ("chat.completions", chat("Write a poem about autumn."), None),
}


def test_every_signal_has_a_case() -> None:
    assert set(FIRES) == set(SIGNALS)
    assert {task for task, _, _ in SIGNALS.values()} == set(TASKS)


@pytest.mark.parametrize("code", sorted(FIRES))
def test_signal_fires_on_its_cue(code: str) -> None:
    endpoint, request, counts = FIRES[code]
    assert code in classify(endpoint, request, counts).signals


@pytest.mark.parametrize("code", sorted(FIRES))
def test_signal_is_quiet_without_its_cue(code: str) -> None:
    plain = classify("chat.completions", chat("Hello there"),
                     TokenUsage(input_tokens=40, output_tokens=60))
    assert code not in plain.signals
    assert plain.signals == () and plain.task == "generation"


@pytest.mark.parametrize("code", sorted(FIRES))
def test_signal_alone_decides_its_task(code: str) -> None:
    endpoint, request, counts = FIRES[code]
    task, weight, _ = SIGNALS[code]
    if weight <= 0.5:  # too weak to beat the generation prior alone: points at generation
        assert task == "generation"
        return
    assert classify(endpoint, request, counts).task == task


def test_classification_shaped_call_is_confident() -> None:
    request = chat("Classify the ticket.", max_tokens=5,
                   response_format=schema_format(obj(label=LABELS)))
    shape = classify("chat.completions", request, TokenUsage(input_tokens=200, output_tokens=4))
    assert shape.task == "classification"
    assert shape.signals == ("rf:enum", "max:tiny", "kw:cls", "out:tiny")
    assert shape.confidence > 0.9
    assert shape.signal_text == "rf:enum,max:tiny,kw:cls,out:tiny"


def test_no_signal_is_low_confidence_generation() -> None:
    shape = classify("chat.completions", chat("Hi"))
    assert (shape.task, shape.signals) == ("generation", ())
    assert 0 < shape.confidence < 0.5


def test_confidence_grows_with_agreeing_evidence_and_falls_with_conflict() -> None:
    one = classify("chat.completions", chat("Classify this."))
    two = classify("chat.completions", chat("Classify this.", max_tokens=2))
    mixed = classify("chat.completions", chat("Classify this, then write a poem about it."))
    assert two.confidence > one.confidence > mixed.confidence


def test_reasoning_model_doing_a_label_stays_classification() -> None:
    request = chat("Is this spam? Answer yes or no.", reasoning_effort="high")
    counts = TokenUsage(input_tokens=80, output_tokens=1201, reasoning_tokens=1200)
    shape = classify("chat.completions", request, counts)
    assert {"rq:rsn", "rs:tok", "kw:cls", "out:tiny"} <= set(shape.signals)
    assert shape.task == "classification"


@pytest.mark.parametrize(
    ("text", "task"),
    [
        ("Classez ce message : facturation ou livraison ?", "classification"),
        ("Répondez par oui ou non : le colis est-il arrivé ?", "classification"),
        ("Klassifiziere die Stimmung dieser Bewertung.", "classification"),
        ("Antworte mit ja oder nein.", "classification"),
        ("Clasifica el sentimiento de esta reseña.", "classification"),
        ("Classifica questo messaggio.", "classification"),
        ("Classifique esta mensagem.", "classification"),
        ("Classificeer dit bericht.", "classification"),
        ("Extrais les dates de ce contrat.", "extraction"),
        ("Extrahiere alle Namen.", "extraction"),
        ("Résumez ce rapport en trois phrases.", "summarisation"),
        ("Fasse den Text zusammen.", "summarisation"),
        ("Bitte eine Zusammenfassung des Artikels.", "summarisation"),
        ("Haz un resumen del documento.", "summarisation"),
        ("Riassumi questo articolo.", "summarisation"),
        ("Maak een samenvatting van deze mail.", "summarisation"),
        ("Résous l'équation étape par étape.", "reasoning"),
        ("TL;DR of the thread please", "summarisation"),
    ],
)
def test_multilingual_keywords(text: str, task: str) -> None:
    assert classify("chat.completions", chat(text)).task == task


def test_phrases_need_the_whole_phrase() -> None:
    assert "kw:cls" not in classify("chat.completions", chat("yes, I think so")).signals
    assert "kw:cls" not in classify("chat.completions", chat("my eyes or nose hurt")).signals
    assert "kw:cls" in classify("chat.completions", chat("Reply: yes or no.")).signals


def test_keywords_are_read_only_where_instructions_sit() -> None:
    filler = "lorem ipsum dolor sit amet " * 200
    middle = chat(filler + " please classify this " + filler)
    assert "kw:cls" not in classify("chat.completions", middle).signals
    ending = chat(filler + " Classify the text above.")
    assert "kw:cls" in classify("chat.completions", ending).signals
    system = {"messages": [{"role": "system", "content": "You classify tickets."},
                           {"role": "user", "content": filler}]}
    assert "kw:cls" in classify("chat.completions", system).signals


def test_label_schema_rules() -> None:
    def kind(schema: dict[str, Any]) -> str | None:
        request = chat(response_format=schema_format(schema))
        return next(s for s in classify("chat.completions", request).signals
                    if s.startswith("rf:"))

    assert kind(obj(label=LABELS, reason={"type": "string"})) == "rf:enum"
    assert kind(obj(spam={"type": "boolean"})) == "rf:enum"
    assert kind(obj(tags={"type": "array", "items": LABELS})) == "rf:enum"  # multi-label
    pydantic_enum = {**obj(label={"$ref": "#/$defs/Label"}), "$defs": {"Label": LABELS}}
    assert kind(pydantic_enum) == "rf:enum"
    optional = obj(label={"anyOf": [LABELS, {"type": "null"}]})
    assert kind(optional) == "rf:enum"
    assert kind(obj(a=LABELS, b={"type": "string"}, c={"type": "string"})) == "rf:schema"
    assert kind(obj(label=LABELS, address={"type": "object"})) == "rf:schema"
    assert kind(obj(**{f"f{i}": LABELS for i in range(5)})) == "rf:schema"


def test_other_wire_formats() -> None:
    responses = {"input": [{"role": "user", "content": [{"type": "input_text",
                                                          "text": "Classify this."}]}],
                 "text": {"format": {"type": "json_schema", "name": "x",
                                     "schema": obj(label=LABELS)}},
                 "max_output_tokens": 8, "reasoning": {"effort": "medium"}}
    assert classify("responses", responses).signals == ("rf:enum", "max:tiny", "rq:rsn",
                                                        "kw:cls")
    anthropic = {"system": [{"type": "text", "text": "Route the ticket."}],
                 "messages": [{"role": "user", "content": "Where is my parcel?"}],
                 "tools": [{"name": "route", "input_schema": obj(queue=LABELS)}],
                 "tool_choice": {"type": "tool", "name": "route"}, "max_tokens": 1024,
                 "thinking": {"type": "enabled", "budget_tokens": 2000}}
    assert classify("messages", anthropic).signals == ("tool:enum", "rq:rsn")
    legacy = {"prompt": ["Summarize: the cat sat on the mat."], "max_tokens": 64}
    assert classify("completions", legacy).task == "summarisation"


def test_odd_requests_do_not_raise() -> None:
    odd: list[Any] = [None, {}, {"messages": "nope"}, {"messages": [None, 3]},
                      {"response_format": "json"}, {"tools": "x"}, {"tools": [None]},
                      {"tools": [{}], "tool_choice": {"type": "any"}},
                      {"logit_bias": {"1": "x"}}, {"max_tokens": "5"}, {"prompt": [1, 2]},
                      {"input": None, "instructions": 7},
                      {"response_format": {"type": "json_schema", "json_schema": "x"}}]
    for request in odd:
        for endpoint in ("chat.completions", "responses", "messages", "completions"):
            assert classify(endpoint, request).task in TASKS


def test_request_shape_guess_and_finish() -> None:
    shape = shape_request("chat.completions", chat("Summarize this.", max_tokens=4))
    assert shape.guess().signals == ("max:tiny", "kw:sum")
    finished = shape.finish(TokenUsage(input_tokens=30, output_tokens=3))
    assert finished.signals == ("max:tiny", "kw:sum", "out:tiny")
    assert shape.finish(None) == shape.guess()
    embed = shape_request("embeddings", {"input": ["a"]})
    assert embed.finish(TokenUsage(input_tokens=5)).signals == ("ep:emb",)


def event(endpoint: str, **fields: Any) -> UsageEvent:
    from datetime import UTC, datetime

    return UsageEvent(event_id="e", request_id="r", created_at=datetime.now(UTC), team="t",
                      endpoint=endpoint, status_code=200, **fields)


def test_label_event_fills_the_three_fields_and_no_text() -> None:
    ev = event("chat.completions", input_tokens=40, output_tokens=2, usage_source="upstream")
    label_event(ev, chat("Is this spam? Answer yes or no."))
    assert (ev.task, ev.task_signals) == ("classification", "kw:cls,out:tiny")
    assert ev.task_confidence is not None and 0 < ev.task_confidence <= 1
    assert "spam" not in str(ev.to_row())


def test_label_event_uses_a_precomputed_shape_and_skips_unmetered() -> None:
    ev = event("chat.completions", output_tokens=500, usage_source="none")
    label_event(ev, None, shape_request("chat.completions", chat("Extract the names.")))
    assert (ev.task, ev.task_signals) == ("extraction", "kw:ext")  # no usage: no token signal
    passthrough = event("passthrough")
    label_event(passthrough, chat("Classify."))
    assert passthrough.task is None and passthrough.task_signals is None


def test_keyword_table_is_consistent() -> None:
    codes = [k.code for k in KEYWORDS]
    assert len(codes) == len(set(codes))
    for keyword in KEYWORDS:
        assert keyword.task in TASKS and keyword.words
