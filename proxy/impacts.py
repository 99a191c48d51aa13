"""How impacts reach clients: response headers, and an `impacts` field spliced into JSON.

Splicing keeps the upstream's bytes as they were: the closing brace of the body is
replaced by `,"impacts":{...}}`, so nothing the upstream sent is re-serialised.
"""

from __future__ import annotations

import math

import orjson

from estimators import Impacts


def plain_decimal(x: float) -> str:
    """A number in plain decimal (never 1e-05) with at least four significant digits."""
    if x == 0 or not math.isfinite(x):
        return "0"
    digits = max(0, 3 - math.floor(math.log10(abs(x))))
    return f"{x:.{digits}f}"


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


def impacts_json(imp: Impacts, usage_source: str) -> bytes:
    return orjson.dumps(imp.to_dict(usage_source=usage_source))


def splice_field(body: bytes, name: bytes, value: bytes) -> bytes | None:
    """`body` (a JSON object) with `"name": value` after its last member, or None if it is
    not an object. Every other byte, whitespace included, stays where it was."""
    close = len(body.rstrip())
    if close < 2 or body[close - 1] != ord("}"):
        return None
    last = len(body[: close - 1].rstrip())  # just after the last member (or the `{`)
    sep = b"" if body[last - 1] == ord("{") else b","
    return b'%s%s"%s":%s%s' % (body[:last], sep, name, value, body[last:])
