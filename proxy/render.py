"""Rows -> text for humans (aligned table, markdown) or machines (JSON, CSV).

Shared by the CLI and the HTTP reports so both print the same columns.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson

from proxy.impacts import plain_decimal

FORMATS = ("table", "json", "csv", "markdown")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return plain_decimal(value)
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return str(value)


def render(
    rows: Sequence[Mapping[str, Any]], fmt: str, columns: Sequence[str] | None = None
) -> str:
    cols = list(columns or (rows[0].keys() if rows else ()))
    if fmt == "json":
        return orjson.dumps([dict(r) for r in rows], option=orjson.OPT_INDENT_2).decode() + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(cols)
        writer.writerows([[_cell(r.get(c)) for c in cols] for r in rows])
        return out.getvalue()
    cells = [[_cell(r.get(c)) for c in cols] for r in rows]
    if fmt == "markdown":
        lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in cells]
        return "\n".join(lines) + "\n"
    if not cols:
        return "(nothing)\n"
    widths = [
        max(len(c), *(len(row[i]) for row in cells)) if cells else len(c)
        for i, c in enumerate(cols)
    ]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += [
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(lines) + "\n"
