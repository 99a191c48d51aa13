"""The annotation line: wording, units per magnitude, languages, templates, and when not
to annotate."""

from __future__ import annotations

from dataclasses import replace

import pytest

from proxy.config import DisplayPolicy
from proxy.display.annotation import (
    finish_allows_annotation,
    header_switch,
    number,
    render_annotation,
    should_annotate,
    wants_equivalents,
)
from proxy.display.languages import LANGUAGES

POLICY = DisplayPolicy()
IMPACTS = {"energy_wh": {"value": 0.34, "min": 0.2, "max": 0.5},
           "emissions_gco2e": {"value": 0.13}, "water_ml": {"value": 1.2}}
EN = LANGUAGES["en"]


def test_default_line() -> None:
    assert render_annotation(IMPACTS, POLICY) == (
        "⚡ 0.34 Wh · 0.13 g CO₂e · 1.2 mL water · ≈ 2 min of an LED bulb")
    assert render_annotation(IMPACTS, POLICY, conversation_wh=3.14) == (
        "⚡ 0.34 Wh · 0.13 g CO₂e · 1.2 mL water · ≈ 2 min of an LED bulb"
        " · this conversation: 3.1 Wh")


@pytest.mark.parametrize(("value", "text"), [
    (0.34, "0.34"), (1.234, "1.2"), (12.34, "12"), (340.4, "340"), (1234.5, "1234"),
    (0.000123, "0.00012"), (2.0, "2"), (0.0, "0"), (float("nan"), "0"), (9.96, "10"),
])
def test_numbers_two_significant_digits(value: float, text: str) -> None:
    assert number(value, EN) == text


@pytest.mark.parametrize(("wh", "text"), [
    (0.00004, "0.04 mWh"), (0.012, "12 mWh"), (0.34, "0.34 Wh"), (56.0, "56 Wh"),
    (3100.0, "3.1 kWh"), (2.5e7, "25 MWh"),
])
def test_energy_moves_to_the_unit_of_its_size(wh: float, text: str) -> None:
    line = render_annotation({**IMPACTS, "energy_wh": {"value": wh}}, POLICY)
    assert line.startswith(f"⚡ {text} ·")
    assert "0.00" not in line


def test_fixed_units() -> None:
    policy = replace(POLICY, energy_unit="mWh", emissions_unit="mg", water_unit="L")
    assert render_annotation(IMPACTS, policy).startswith(
        "⚡ 340 mWh · 130 mg CO₂e · 0.0012 L water")


@pytest.mark.parametrize(("equivalent", "tail"), [
    ("smartphone_charges", "≈ 2.8% of a smartphone charge"),
    ("car_km", "≈ 52 cm by car"),
    ("water_intake_days", "≈ 52 s of an adult's water intake"),
])
def test_other_equivalents(equivalent: str, tail: str) -> None:
    assert render_annotation(IMPACTS, replace(POLICY, equivalent=equivalent)).endswith(tail)


def test_large_equivalents_and_singular() -> None:
    big = {"energy_wh": {"value": 12.0}, "emissions_gco2e": {"value": 2.6e5},
           "water_ml": {"value": 9000.0}}
    assert render_annotation(big, replace(POLICY, equivalent="smartphone_charges")).endswith(
        "≈ 1 smartphone charge")
    assert render_annotation(big, POLICY).endswith("≈ 1.2 h of an LED bulb")
    assert render_annotation(big, replace(POLICY, equivalent="car_km")).endswith(
        "≈ 1036 km by car")
    assert render_annotation(big, replace(POLICY, equivalent="water_intake_days")).endswith(
        "≈ 4.5 days of an adult's water intake")
    miles = replace(POLICY, equivalent="car_km", distance_unit="mi")
    assert render_annotation(big, miles).endswith("≈ 644 mi by car")


def test_no_equivalent_drops_its_segment() -> None:
    assert render_annotation(IMPACTS, replace(POLICY, equivalent="none")) == (
        "⚡ 0.34 Wh · 0.13 g CO₂e · 1.2 mL water")


@pytest.mark.parametrize(("language", "line"), [
    ("fr", "⚡ 0,34 Wh · 0,13 g CO₂e · 1,2 mL d'eau · ≈ 2 min d'ampoule LED"
           " · cette conversation\u202f: 3,1 kWh"),
    ("de", "⚡ 0,34 Wh · 0,13 g CO₂e · 1,2 mL Wasser · ≈ 2 Min. einer LED-Lampe"
           " · dieses Gespräch: 3,1 kWh"),
])
def test_languages(language: str, line: str) -> None:
    policy = replace(POLICY, language=language)
    assert render_annotation(IMPACTS, policy, conversation_wh=3100) == line


def test_every_language_renders_every_equivalent() -> None:
    for language in LANGUAGES:
        for equivalent in ("smartphone_charges", "led_bulb_minutes", "car_km",
                           "water_intake_days"):
            line = render_annotation(IMPACTS, replace(POLICY, language=language,
                                                      equivalent=equivalent))
            assert "{" not in line and line.count(" · ") == 3


def test_custom_template() -> None:
    policy = replace(POLICY, template="_{energy}, {emissions}_ · {conversation}")
    assert render_annotation(IMPACTS, policy) == "_0.34 Wh, 0.13 g CO₂e_"


def test_missing_numbers_read_zero() -> None:
    assert render_annotation({}, replace(POLICY, equivalent="none")) == (
        "⚡ 0 Wh · 0 g CO₂e · 0 mL water")


@pytest.mark.parametrize(("value", "switch"), [
    (b"on", True), ("OFF", False), (b" true ", True), ("0", False), (None, None),
    (b"maybe", None),
])
def test_header_switch(value: bytes | str | None, switch: bool | None) -> None:
    assert header_switch(value) is switch


CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


def test_policy_and_header() -> None:
    assert should_annotate("chat.completions", CHAT, enabled=True)
    assert not should_annotate("chat.completions", CHAT, enabled=False)
    assert should_annotate("chat.completions", CHAT, enabled=False, header=b"on")
    assert not should_annotate("chat.completions", CHAT, enabled=True, header=b"off")
    assert should_annotate("chat.completions", CHAT, enabled=True, header=b"bogus")


@pytest.mark.parametrize("endpoint", ["embeddings", "completions", "passthrough", "models"])
def test_never_on_other_endpoints(endpoint: str) -> None:
    assert not should_annotate(endpoint, CHAT, enabled=True, header=b"on")
    assert not should_annotate("chat.completions", None, enabled=True)


@pytest.mark.parametrize("extra", [
    {"response_format": {"type": "json_object"}},
    {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}},
    {"tool_choice": "required", "tools": [{"type": "function"}]},
    {"tool_choice": {"type": "function", "function": {"name": "f"}}},
    {"function_call": {"name": "f"}},
    {"modalities": ["text", "audio"]},
    {"logprobs": True},
    {"n": 2},
])
def test_chat_requests_that_would_break(extra: dict[str, object]) -> None:
    assert not should_annotate("chat.completions", {**CHAT, **extra}, enabled=True,
                               header=b"on")


@pytest.mark.parametrize("extra", [
    {"response_format": {"type": "text"}}, {"tool_choice": "auto", "tools": []},
    {"n": 1}, {"logprobs": False},
])
def test_chat_requests_that_are_fine(extra: dict[str, object]) -> None:
    assert should_annotate("chat.completions", {**CHAT, **extra}, enabled=True)


def test_n_above_one_when_each_choice_is_annotated() -> None:
    assert should_annotate("chat.completions", {**CHAT, "n": 3}, enabled=True,
                           annotates_each_choice=True)


def test_responses_and_messages() -> None:
    assert should_annotate("responses", {"model": "m", "input": "hi"}, enabled=True)
    assert not should_annotate(
        "responses", {"input": "hi", "text": {"format": {"type": "json_schema"}}}, enabled=True)
    assert not should_annotate("responses", {"input": "hi", "tool_choice": "required"},
                               enabled=True)
    assert should_annotate("messages", {"messages": []}, enabled=True)
    assert not should_annotate("messages", {"tool_choice": {"type": "any"}}, enabled=True)
    assert not should_annotate("messages", {"tool_choice": {"type": "tool", "name": "f"}},
                               enabled=True)
    assert should_annotate("messages", {"tool_choice": {"type": "auto"}}, enabled=True)


@pytest.mark.parametrize(("endpoint", "finish", "tools", "ok"), [
    ("chat.completions", "stop", False, True),
    ("chat.completions", "length", False, True),
    ("chat.completions", "tool_calls", True, False),
    ("chat.completions", "stop", True, False),
    ("chat.completions", "content_filter", False, False),
    ("chat.completions", None, False, False),
    ("messages", "end_turn", False, True),
    ("messages", "tool_use", True, False),
    ("messages", "refusal", False, False),
    ("responses", "completed", False, True),
    ("responses", "completed", True, False),
    ("responses", "failed", False, False),
    ("embeddings", "stop", False, False),
])
def test_finish_allows_annotation(endpoint: str, finish: str | None, tools: bool,
                                  ok: bool) -> None:
    assert finish_allows_annotation(endpoint, finish, tool_calls=tools) is ok


def test_wants_equivalents() -> None:
    assert not wants_equivalents(POLICY)
    assert wants_equivalents(replace(POLICY, equivalents=True))
    assert wants_equivalents(POLICY, b"on")
    assert not wants_equivalents(replace(POLICY, equivalents=True), "off")
