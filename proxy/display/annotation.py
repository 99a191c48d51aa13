"""The annotation: one short line with a call's footprint, appended to the assistant's text
so that chat apps show it without any code change.

    ⚡ 0.34 Wh · 0.13 g CO₂e · 1.2 mL water · ≈ 2 min of an LED bulb

Everything here is pure (no I/O, microseconds). The request path decides with
`should_annotate` before forwarding and `finish_allows_annotation` once it sees how the
answer ended, renders the line with `render_annotation`, and appends `ANNOTATION_PREFIX +
line` to the text (or, for Anthropic messages, adds the line as its own text block). The
annotation is never metered: tokens and stored usage stay the upstream's.

Numbers keep two significant digits (never "0.00") and move to the unit that suits their
size (mWh, Wh, kWh; mg, g, kg; mL, L; cm, m, km; s, min, h, days), unless a fixed unit is
configured. Words come from `proxy.display.languages`.
"""

from __future__ import annotations

import functools
import math
import string
from collections.abc import Mapping
from typing import Any

from estimators.equivalents import FACTOR_BY_NAME, central
from proxy.config import DisplayPolicy
from proxy.display.languages import LANGUAGES, Language

ANNOTATION_PREFIX = "\n\n"  # between the assistant's text and the line
SEGMENT_SEPARATOR = " · "  # template segments whose fields are all empty are left out

ANNOTATED_ENDPOINTS = frozenset({"chat.completions", "responses", "messages"})
HEADER = b"x-wattgate-annotate"
EQUIVALENTS_HEADER = b"x-wattgate-equivalents"

# Unit ladders: (symbol, size in the base unit). The base unit is also used for values
# from a tenth of it upwards, so 0.34 Wh reads "0.34 Wh", not "340 mWh".
_ENERGY = (("mWh", 1e-3), ("Wh", 1.0), ("kWh", 1e3), ("MWh", 1e6))
_EMISSIONS = (("mg", 1e-3), ("g", 1.0), ("kg", 1e3), ("t", 1e6))
_WATER = (("mL", 1.0), ("L", 1e3), ("m³", 1e6))
_METRIC = (("cm", 1e-5), ("m", 1e-3), ("km", 1.0))  # in km
_IMPERIAL = (("in", 1.0 / 63360), ("ft", 1.0 / 5280), ("mi", 1.0))  # in miles
_KM_PER_MILE = 1.609344

_ON = frozenset({"on", "true", "1", "yes"})
_OFF = frozenset({"off", "false", "0", "no"})
_JSON_FORMATS = frozenset({"json_object", "json_schema"})
_ANTHROPIC_TEXT_STOPS = frozenset({"end_turn", "max_tokens", "stop_sequence"})
_CHAT_TEXT_STOPS = frozenset({"stop", "length"})


# --- Deciding --------------------------------------------------------------------------


def header_switch(value: bytes | str | None) -> bool | None:
    """`on`/`off` (also true/false, 1/0, yes/no) from a header; None if absent or unknown."""
    if value is None:
        return None
    text = (value.decode("latin-1") if isinstance(value, bytes) else value).strip().lower()
    return True if text in _ON else False if text in _OFF else None


def should_annotate(
    endpoint: str,
    request: Mapping[str, Any] | None,
    *,
    enabled: bool,
    header: bytes | str | None = None,
    annotates_each_choice: bool = False,
) -> bool:
    """Whether to annotate this call, before it is forwarded.

    `enabled` is the caller's policy (`DisplayPolicy.annotate`); the `x-wattgate-annotate`
    header (`header`), when on or off, wins over it. Whatever they say, calls whose
    caller would break are never annotated: endpoints other than chat completions,
    Responses and Anthropic messages (embeddings, completions, pass-through), JSON mode
    and JSON-schema output, a forced tool call, audio output, logprobs, and `n > 1`
    unless the splicer annotates every choice (`annotates_each_choice`). A call that may
    end in a tool call is checked again with `finish_allows_annotation`.
    """
    switch = header_switch(header)
    wanted = enabled if switch is None else switch
    if not wanted or endpoint not in ANNOTATED_ENDPOINTS or request is None:
        return False
    return not _breaks_caller(endpoint, request, annotates_each_choice)


def _breaks_caller(endpoint: str, request: Mapping[str, Any], each_choice: bool) -> bool:
    if endpoint == "chat.completions":
        n = request.get("n")
        return (
            _format_type(request.get("response_format")) in _JSON_FORMATS
            or _forced_tool(request.get("tool_choice"))
            or _forced_tool(request.get("function_call"))
            or "audio" in (request.get("modalities") or ())
            or request.get("logprobs") is True
            or (isinstance(n, int) and n > 1 and not each_choice)
        )
    if endpoint == "responses":
        text = request.get("text")
        fmt = text.get("format") if isinstance(text, Mapping) else None
        return _format_type(fmt) in _JSON_FORMATS or _forced_tool(request.get("tool_choice"))
    # Anthropic messages
    choice = request.get("tool_choice")
    forced = isinstance(choice, Mapping) and choice.get("type") in ("any", "tool")
    return forced or _format_type(request.get("output_format")) in _JSON_FORMATS


def _format_type(value: Any) -> Any:
    return value.get("type") if isinstance(value, Mapping) else None


def _forced_tool(choice: Any) -> bool:
    """OpenAI `tool_choice` / `function_call` that makes the answer a tool call."""
    if isinstance(choice, str):
        return choice == "required"
    return isinstance(choice, Mapping)  # a named tool or function


def finish_allows_annotation(endpoint: str, finish: str | None, *, tool_calls: bool) -> bool:
    """Whether an answer that ended this way may be annotated: never one carrying tool
    calls. `finish` is the chat choice's `finish_reason` ("stop", "length"), the Anthropic
    `stop_reason` ("end_turn", "max_tokens", "stop_sequence") or, for the Responses API,
    the response `status` ("completed", "incomplete"); `tool_calls` says whether the
    answer holds any tool or function call (Responses: a `function_call` output item)."""
    if tool_calls:
        return False
    if endpoint == "chat.completions":
        return finish in _CHAT_TEXT_STOPS
    if endpoint == "messages":
        return finish in _ANTHROPIC_TEXT_STOPS
    return endpoint == "responses" and finish in ("completed", "incomplete")


def wants_equivalents(policy: DisplayPolicy, header: bytes | str | None = None) -> bool:
    """Whether `impacts.equivalents` goes into this call's body: the
    `x-wattgate-equivalents` header (on/off) wins over the caller's policy."""
    switch = header_switch(header)
    return policy.equivalents if switch is None else switch


# --- Rendering -------------------------------------------------------------------------


def render_annotation(
    impacts: Mapping[str, Any], policy: DisplayPolicy, *, conversation_wh: float | None = None
) -> str:
    """The annotation line for an `impacts` JSON object (central values), in the
    policy's language, units and template. `conversation_wh` is the conversation's
    running total including this call; without it `{conversation}` is left out."""
    lang = LANGUAGES[policy.language]
    energy = central(impacts, "energy_wh")
    fields = {
        "energy": _quantity(energy, _ENERGY, policy.energy_unit, lang),
        "emissions": lang.emissions.format(
            _quantity(central(impacts, "emissions_gco2e"), _EMISSIONS,
                      policy.emissions_unit, lang)),
        "water": lang.water.format(
            _quantity(central(impacts, "water_ml"), _WATER, policy.water_unit, lang)),
        "equivalent": _equivalent(impacts, policy, lang),
        "conversation": "" if conversation_wh is None else lang.conversation.format(
            _quantity(conversation_wh, _ENERGY, policy.energy_unit, lang)),
    }
    return SEGMENT_SEPARATOR.join(
        segment.format(**fields)
        for segment, names in _segments(policy.template)
        if not names or any(fields[n] for n in names)
    )


@functools.lru_cache(maxsize=64)
def _segments(template: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The template's parts with the fields each uses (parsed once per template)."""
    return tuple(
        (segment, tuple(n for _, n, _, _ in string.Formatter().parse(segment) if n))
        for segment in template.split(SEGMENT_SEPARATOR)
    )


def number(x: float, lang: Language) -> str:
    """Two significant digits below 100, whole numbers above; never "0.00"."""
    if x == 0 or not math.isfinite(x):
        return "0"
    if abs(x) >= 100:
        text = f"{x:.0f}"
    else:
        decimals = max(0, 1 - math.floor(math.log10(abs(x))))
        text = f"{x:.{decimals}f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
    return text.replace(".", lang.decimal)


def _scaled(value: float, ladder: tuple[tuple[str, float], ...], base: str | None
            ) -> tuple[float, str]:
    """`value` (in the ladder's base unit) in the largest unit it reaches at least 1 of."""
    chosen = ladder[0]
    for unit in ladder:
        if abs(value) >= unit[1]:
            chosen = unit
    if base is not None:
        base_unit = next(u for u in ladder if u[0] == base)
        if chosen[1] < base_unit[1] and (value == 0 or abs(value) >= 0.1 * base_unit[1]):
            chosen = base_unit
    return value / chosen[1], chosen[0]


def _quantity(value: float, ladder: tuple[tuple[str, float], ...], unit: str,
              lang: Language) -> str:
    if unit == "auto":
        base = next(name for name, size in ladder if size == 1.0)
        amount, symbol = _scaled(value, ladder, base)
    else:
        size = next(s for name, s in ladder if name == unit)
        amount, symbol = value / size, unit
    return f"{number(amount, lang)} {symbol}"


def _duration(minutes: float, lang: Language) -> str:
    if minutes < 1:
        return lang.seconds.format(number(minutes * 60, lang))
    if minutes < 60:
        return lang.minutes.format(number(minutes, lang))
    if minutes < 48 * 60:
        return lang.hours.format(number(minutes / 60, lang))
    return lang.days.format(number(minutes / 1440, lang))


def _distance(km: float, policy: DisplayPolicy, lang: Language) -> str:
    if policy.distance_unit == "mi":
        amount, symbol = _scaled(km / _KM_PER_MILE, _IMPERIAL, None)
    else:
        amount, symbol = _scaled(km, _METRIC, None)
    return f"{number(amount, lang)} {symbol}"


def _equivalent(impacts: Mapping[str, Any], policy: DisplayPolicy, lang: Language) -> str:
    name = policy.equivalent
    if name not in FACTOR_BY_NAME:
        return ""
    factor = FACTOR_BY_NAME[name]
    basis = central(impacts, factor.basis)
    value = max(basis, 0.0) / factor.per_unit  # full precision, not the rounded JSON value
    if name == "smartphone_charges":
        if value < 1:
            return lang.smartphone_share.format(lang.percent.format(number(value * 100, lang)))
        text = number(value, lang)
        return (lang.smartphone_one if text == "1" else lang.smartphone_many).format(text)
    if name == "led_bulb_minutes":
        return lang.led_bulb.format(_duration(value, lang))
    if name == "car_km":
        return lang.car.format(_distance(value, policy, lang))
    return lang.water_intake.format(_duration(value * 1440, lang))  # water_intake_days


__all__ = [
    "ANNOTATED_ENDPOINTS",
    "ANNOTATION_PREFIX",
    "EQUIVALENTS_HEADER",
    "HEADER",
    "finish_allows_annotation",
    "header_switch",
    "number",
    "render_annotation",
    "should_annotate",
    "wants_equivalents",
]
