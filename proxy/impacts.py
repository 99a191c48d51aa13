"""How impacts reach clients: response headers, and an `impacts` field spliced into JSON.

Splicing keeps the upstream's bytes as they were: the closing brace of the body is
replaced by `,"impacts":{...}}`, so nothing the upstream sent is re-serialised.
"""

from __future__ import annotations

import math
from typing import Any

from estimators import Impacts
from estimators.equivalents import equivalents_of
from estimators.types import SIGNIFICANT_DIGITS

MIN_DIGITS = 4  # headers carry at least four significant digits (DESIGN.md)


def plain_decimal(x: float) -> str:
    """`x` rounded as in every JSON body (`significant`: 6 significant digits), written in
    plain decimal (never 1e-05), trailing zeros dropped down to four significant digits:
    0.343126, 384.4, 0.5000, 1234570. Magnitudes below 1e-12 print as 0."""
    if not math.isfinite(x) or abs(x) < 1e-12:
        return "0"
    rounded = f"{x:.{SIGNIFICANT_DIGITS - 1}e}"  # d.ddddde±XX: six digits and the exponent
    shortest = repr(float(rounded))  # plain already from 1e-4 to 1e16 (the common case)
    if "e" not in shortest:
        return _padded(shortest)
    exponent = int(rounded[rounded.index("e") + 1 :])
    text = f"{float(rounded):.{max(0, SIGNIFICANT_DIGITS - 1 - exponent)}f}"
    if "." not in text:
        return text
    keep = max(0, MIN_DIGITS - 1 - exponent)  # decimals that four significant digits need
    head, _, decimals = text.partition(".")
    decimals = decimals.rstrip("0").ljust(keep, "0")
    return f"{head}.{decimals}" if decimals else head


def _padded(text: str) -> str:
    """A plain decimal with zeros added to show four significant digits (`.0` dropped)."""
    head, _, decimals = text.partition(".")
    if decimals == "0":
        decimals = ""
    digits = len(head.lstrip("-").lstrip("0") + decimals) if head.strip("-0") else len(
        decimals.lstrip("0"))
    if digits < MIN_DIGITS:
        decimals += "0" * (MIN_DIGITS - digits)
    return f"{head}.{decimals}" if decimals else head


def impact_headers(imp: Impacts) -> list[tuple[bytes, bytes]]:
    e, g, w = imp.energy_wh, imp.emissions_gco2e, imp.water_ml
    pairs = (
        (b"x-energy-wh", plain_decimal(e.value)),
        (b"x-energy-wh-min", plain_decimal(e.min)),
        (b"x-energy-wh-max", plain_decimal(e.max)),
        (b"x-emissions-gco2e", plain_decimal(g.value)),
        (b"x-emissions-gco2e-min", plain_decimal(g.min)),
        (b"x-emissions-gco2e-max", plain_decimal(g.max)),
        (b"x-water-ml", plain_decimal(w.value)),
        (b"x-grid-zone", imp.grid_zone),
        (b"x-grid-intensity-gco2e-per-kwh", plain_decimal(imp.grid_gco2e_per_kwh)),
        (b"x-impact-method", imp.method),
    )
    return [(name, value.encode("latin-1", "replace")) for name, value in pairs]


def impacts_doc(imp: Impacts, usage_source: str, *, equivalents: bool = False) -> dict[str, Any]:
    """The `impacts` object of a body; `equivalents` adds everyday equivalents."""
    doc = imp.to_dict(usage_source=usage_source)
    if equivalents:
        doc["equivalents"] = equivalents_of(doc)
    return doc


def splice_field(body: bytes, name: bytes, value: bytes) -> bytes | None:
    """`body` (a JSON object) with `"name": value` after its last member, or None if it is
    not an object. Every other byte, whitespace included, stays where it was."""
    close = len(body.rstrip())
    if close < 2 or body[close - 1] != ord("}"):
        return None
    last = len(body[: close - 1].rstrip())  # just after the last member (or the `{`)
    sep = b"" if body[last - 1] == ord("{") else b","
    return b'%s%s"%s":%s%s' % (body[:last], sep, name, value, body[last:])
