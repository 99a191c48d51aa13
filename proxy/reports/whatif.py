"""Right-sizing: what a team's recorded calls would have cost on a smaller model.

Each recorded call is re-estimated with `estimators.estimate` on the alternative model
under the same conditions: the same tokens and call kind, provider, grid zone, and the
deployment's declared hardware kind, concurrency, precision, PUE, on-site WUE and market
factor (read back from the row's recorded coefficients). The alternative is sized for its
own weights (GPU count), and a measured energy per token stays with the model it was
measured on. "Now" is what was recorded. Each row says what was held constant. Calls with
the same model, provider, zone, kind, token counts and coefficients are estimated once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncEngine

from proxy.render import render
from proxy.reports.queries import ReportFilter, rounded, select_events
from proxy.reports.sql import event_model, events

# (pattern on the catalog id or requested name, alternative). First match wins.
DEFAULT_ALTERNATIVES: tuple[tuple[str, str], ...] = (
    (r"gpt-4o(?!-mini)", "gpt-4o-mini"),
    (r"gpt-4\.1(?!-mini|-nano)", "gpt-4.1-mini"),
    (r"(^|/)o[13](?!-mini)\b", "o4-mini"),
    (r"claude.*(opus|sonnet)", "claude-haiku-4-5"),
    (r"(?i)llama.*70b", "llama-3.1-8b"),
    (r"gemini.*pro", "gemini-2.5-flash"),
    (r"mistral-large", "mistral-small-latest"),
)

_KINDS = {"chat.completions": "chat", "completions": "completion", "embeddings": "embedding",
          "responses": "responses", "messages": "messages"}

COLUMNS = ("team", "model", "alternative", "requests", "total_tokens",
           "energy_wh_now", "energy_wh_alternative", "energy_wh_saved",
           "emissions_gco2e_now", "emissions_gco2e_alternative", "emissions_gco2e_saved",
           "saving_share", "held_constant")
ALWAYS_HELD = "tokens and call kind, provider, grid zone"
NOT_HELD = ("GPU count (sized for the alternative's weights); a measured energy per token "
            "stays with the measured model")


def alternative_for(model: str, overrides: Mapping[str, str] | None = None,
                    to: str | None = None) -> str | None:
    """The smaller model to compare with (None: nothing smaller in the family)."""
    if to:
        return to
    for name, alt in (overrides or {}).items():
        if model == name or model.endswith("/" + name):
            return alt
    for pattern, alt in DEFAULT_ALTERNATIVES:
        if re.search(pattern, model):
            return alt
    return None


def parse_overrides(values: Sequence[str]) -> dict[str, str]:
    """['gpt-4o=gpt-4.1-nano', ...] -> mapping; raises ValueError on a malformed pair."""
    out: dict[str, str] = {}
    for v in values:
        for pair in v.split(","):
            if not pair.strip():
                continue
            src, sep, dst = pair.partition("=")
            if not sep or not src.strip() or not dst.strip():
                raise ValueError(f"alternative must look like MODEL=SMALLER, got {pair!r}")
            out[src.strip()] = dst.strip()
    return out


def conditions(factors: str | None, method: str | None) -> tuple[dict[str, Any], str]:
    """(Overrides keywords, description) of the deployment conditions a row recorded, and
    the method note when "now" was estimated with another method than the alternative."""
    from estimators.estimate import METHOD
    from estimators.factors import declared_conditions

    kept = declared_conditions(factors) if factors else {}
    held = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}"
                     for k, v in sorted(kept.items()))
    text = ALWAYS_HELD + (f"; declared: {held}" if held else "")
    if factors is None:
        text += "; the deployment's coefficients were not recorded with these calls"
    if method and method != METHOD:
        text += f"; now estimated with {method}, the alternative with {METHOD}"
    return kept, text


async def whatif(engine: AsyncEngine, f: ReportFilter, *, to: str | None = None,
                 overrides: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    from estimators import Overrides, estimate

    dims = (events.c.team, event_model().label("model"), events.c.provider, events.c.grid_zone,
            events.c.endpoint, events.c.input_tokens, events.c.cached_input_tokens,
            events.c.output_tokens, events.c.reasoning_tokens, events.c.factors,
            events.c.method)
    query = select_events(f, *dims, func.count().label("n"),
                          func.sum(events.c.energy_wh).label("wh"),
                          func.sum(events.c.emissions_gco2e).label("g")).group_by(*dims)
    async with engine.connect() as conn:
        groups = (await conn.execute(query)).all()
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    for g in groups:
        alt = alternative_for(g.model, overrides, to)
        if alt is None:
            continue
        kept, held = conditions(g.factors, g.method)
        imp = estimate(alt, input_tokens=g.input_tokens, output_tokens=g.output_tokens,
                       cached_input_tokens=g.cached_input_tokens,
                       reasoning_tokens=g.reasoning_tokens,
                       kind=_KINDS.get(g.endpoint, "chat"), provider=g.provider,
                       zone=g.grid_zone, overrides=Overrides(**kept) if kept else None)
        row = out.setdefault((g.team, g.model, alt), {
            "team": g.team, "model": g.model, "alternative": imp.model_id or alt,
            "requests": 0, "total_tokens": 0, "energy_wh_now": 0.0,
            "energy_wh_alternative": 0.0, "emissions_gco2e_now": 0.0,
            "emissions_gco2e_alternative": 0.0, "held": set()})
        n = int(g.n)
        row["requests"] += n
        row["total_tokens"] += n * (g.input_tokens + g.output_tokens)
        row["energy_wh_now"] += float(g.wh or 0.0)
        row["emissions_gco2e_now"] += float(g.g or 0.0)
        row["energy_wh_alternative"] += n * imp.energy_wh.value
        row["emissions_gco2e_alternative"] += n * imp.emissions_gco2e.value
        row["held"].add(held)
    rows = []
    for key in sorted(out):
        r = out[key]
        r["energy_wh_saved"] = r["energy_wh_now"] - r["energy_wh_alternative"]
        r["emissions_gco2e_saved"] = r["emissions_gco2e_now"] - r["emissions_gco2e_alternative"]
        r["saving_share"] = (r["emissions_gco2e_saved"] / r["emissions_gco2e_now"]
                             if r["emissions_gco2e_now"] else None)
        r["held_constant"] = " | ".join(sorted(r.pop("held"))) + f"; not held: {NOT_HELD}"
        rows.append(rounded({c: r[c] for c in COLUMNS}))
    return rows


# The report's "top right-sizing opportunities" section: the largest whatif() rows.
SAVINGS_LIMIT = 5
SAVINGS_TITLE = "Top right-sizing opportunities (largest gCO2e savings on a smaller model)"


async def top_savings(engine: AsyncEngine, f: ReportFilter, *,
                      limit: int = SAVINGS_LIMIT) -> list[dict[str, Any]]:
    """The `limit` whatif() rows (default alternatives) with the largest positive
    emissions saving, largest first; same rows and numbers as `wattgate whatif`."""
    rows = [r for r in await whatif(engine, f) if r["emissions_gco2e_saved"] > 0]
    rows.sort(key=lambda r: (-r["emissions_gco2e_saved"], r["team"], r["model"]))
    return rows[:limit]


def savings_section(rows: Sequence[Mapping[str, Any]], fmt: str) -> str:
    """The savings as a titled section to print under a table/markdown report; '' when
    there are none (or for json/csv, which carry them differently or not at all)."""
    if not rows or fmt not in ("table", "markdown"):
        return ""
    body = render(rows, fmt, COLUMNS)
    if fmt == "markdown":
        return f"\n## {SAVINGS_TITLE}\n\n{body}"
    return f"\n{SAVINGS_TITLE}\n\n{body}"
