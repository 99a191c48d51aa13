"""Typed report aggregations over `usage_events` and `usage_daily`.

A report reads the daily rollups for whole UTC days that are built, and raw events for
everything else (partial days at the edges, today, and rows that arrived after the last
rollup run), so its numbers always equal a direct sum over `usage_events`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, union_all
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement

from estimators.equivalents import equivalents
from proxy.reports.periods import Period
from proxy.reports.rollups import read_state
from proxy.reports.sql import (
    COUNTS,
    MEASURES,
    QUALITY_DIMS,
    daily,
    daily_day_text,
    daily_month_text,
    event_day_text,
    event_model,
    event_month_text,
    events,
)

GROUPINGS: tuple[str, ...] = ("team", "model", "provider", "key", "user", "day", "month")
# Groupings the daily rollups do not keep: reports using them read raw events only.
EVENTS_ONLY: frozenset[str] = frozenset({"user"})

# Every report row has these columns after its grouping columns (CSV header order).
COLUMNS: tuple[str, ...] = (
    "requests", "input_tokens", "cached_input_tokens", "output_tokens", "reasoning_tokens",
    "total_tokens",
    "energy_kwh", "energy_kwh_min", "energy_kwh_max",
    "emissions_location_gco2e", "emissions_location_gco2e_min", "emissions_location_gco2e_max",
    "emissions_market_gco2e", "market_coverage",
    "operational_gco2e", "embodied_gco2e",
    "water_l", "water_l_min", "water_l_max",
    "wh_per_1k_tokens", "gco2e_per_1k_tokens", "wh_per_request", "gco2e_per_request",
    "upstream_usage_share", "estimated_usage_share", "quality_tiers", "methods",
)


class ReportError(ValueError):
    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


def parse_groupings(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """'team,model' -> ('team', 'model'); unknown names raise ReportError."""
    if value is None:
        return ()
    parts = value.split(",") if isinstance(value, str) else [
        p for v in value for p in v.split(",")]
    names = tuple(dict.fromkeys(p.strip().lower() for p in parts if p.strip()))
    unknown = [n for n in names if n not in GROUPINGS]
    if unknown:
        raise ReportError(
            f"unknown grouping {', '.join(repr(u) for u in unknown)}; "
            f"group by any of: {', '.join(GROUPINGS)}", "by")
    return names


def split_list(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if not value:
        return ()
    parts = value.split(",") if isinstance(value, str) else [p for v in value for p in v.split(",")]
    return tuple(p.strip() for p in parts if p.strip())


@dataclass(frozen=True, slots=True)
class ReportFilter:
    period: Period
    teams: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    only_team: str | None = None  # the caller's own team, for team keys: always enforced


@dataclass(slots=True)
class Report:
    period: Period
    by: tuple[str, ...]
    rows: list[dict[str, Any]]
    total: dict[str, Any]
    zones: list[dict[str, Any]] = field(default_factory=list)  # per grid zone (ESG coefficients)

    def to_dict(self) -> dict[str, Any]:
        return {"object": "report", "period": self.period.to_dict(), "by": list(self.by),
                "columns": [*self.by, *COLUMNS], "rows": self.rows, "total": self.total,
                "equivalents": total_equivalents(self.total)}


def total_equivalents(total: dict[str, Any]) -> dict[str, Any]:
    """Everyday equivalents (`estimators.equivalents`) of a report row's central values."""
    return equivalents(energy_wh=total["energy_kwh"] * 1000.0,
                       emissions_gco2e=total["emissions_location_gco2e"],
                       water_ml=total["water_l"] * 1000.0)


def _model_values(models: Sequence[str]) -> list[str]:
    from estimators import resolve_model

    out = set(models)
    for m in models:
        resolved = resolve_model(m)
        if resolved:
            out.add(resolved)
    return sorted(out)


def _where_common(query: Select[Any], f: ReportFilter, *, team: Any, model: Any,
                  provider: Any, key: Any) -> Select[Any]:
    if f.only_team is not None:
        query = query.where(team == f.only_team)
    if f.teams:
        query = query.where(team.in_(f.teams))
    if f.models:
        query = query.where(model.in_(_model_values(f.models)))
    if f.providers:
        query = query.where(provider.in_(f.providers))
    if f.keys:
        query = query.where(key.in_(f.keys))
    return query


def _dims(by: Sequence[str], *, source: str, dialect: str, extra: Sequence[str]) -> list[Any]:
    table = events if source == "events" else daily
    out: list[ColumnElement[Any]] = []
    for name in (*by, *extra):
        if name == "team":
            col: Any = table.c.team
        elif name == "model":
            col = event_model() if source == "events" else daily.c.model
        elif name == "provider":
            col = table.c.provider
        elif name == "key":
            col = table.c.key_id
        elif name == "user":  # the stored end user (hashed unless configured plain)
            col = events.c.end_user
        elif name == "day":
            col = event_day_text(dialect) if source == "events" else daily_day_text(dialect)
        elif name == "month":
            col = event_month_text(dialect) if source == "events" else daily_month_text(dialect)
        else:
            col = table.c[name]
        out.append(col.label(f"g_{name}"))
    return out


def _events_branch(f: ReportFilter, by: Sequence[str], extra: Sequence[str], dialect: str,
                   *conditions: Any) -> Select[Any]:
    dims = _dims(by, source="events", dialect=dialect, extra=extra)
    cols = [*dims, func.count().label("requests"),
            func.count(events.c.emissions_market_gco2e).label("market_requests"),
            *(func.sum(events.c[m]).label(m) for m in MEASURES)]
    query = select(*cols).where(*conditions)
    query = _where_common(query, f, team=events.c.team, model=event_model(),
                          provider=events.c.provider, key=events.c.key_id)
    return query.group_by(*dims) if dims else query


def _daily_branch(f: ReportFilter, by: Sequence[str], extra: Sequence[str], dialect: str,
                  lo: date, hi: date) -> Select[Any]:
    dims = _dims(by, source="daily", dialect=dialect, extra=extra)
    cols = [*dims, *(func.sum(daily.c[c]).label(c) for c in COUNTS),
            *(func.sum(daily.c[m]).label(m) for m in MEASURES)]
    query = select(*cols).where(daily.c.day >= lo, daily.c.day < hi)
    query = _where_common(query, f, team=daily.c.team, model=daily.c.model,
                          provider=daily.c.provider, key=daily.c.key_id)
    return query.group_by(*dims) if dims else query


def _ceil_day(moment: datetime) -> date:
    day = moment.date()
    return day if moment == datetime(day.year, day.month, day.day, tzinfo=UTC) else (
        day + timedelta(days=1))


def _start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


async def aggregate(engine: AsyncEngine, f: ReportFilter, by: Sequence[str],
                    extra: Sequence[str] = QUALITY_DIMS) -> list[dict[str, Any]]:
    """Sums per group of `by` + `extra` dimensions over the filter's period (raw SQL rows)."""
    start, end = f.period.start, f.period.end
    async with engine.connect() as conn:
        dialect = conn.dialect.name
        state = await read_state(conn)
        lo = _ceil_day(start)
        hi = min(end.date(), state.rolled_through) if state.rolled_through else lo
        branches: list[Select[Any]] = []
        c = events.c.created_at
        if lo < hi and not EVENTS_ONLY.intersection(by):
            branches.append(_daily_branch(f, by, extra, dialect, lo, hi))
            if start < _start(lo):
                branches.append(_events_branch(f, by, extra, dialect, c >= start, c < _start(lo)))
            if _start(hi) < end:
                branches.append(_events_branch(f, by, extra, dialect, c >= _start(hi), c < end))
            branches.append(_events_branch(f, by, extra, dialect, events.c.id > state.last_event_id,
                                           c >= _start(lo), c < _start(hi)))
        else:
            branches.append(_events_branch(f, by, extra, dialect, c >= start, c < end))
        names = [f"g_{n}" for n in (*by, *extra)]
        if len(branches) == 1:
            query: Any = branches[0]
            result = await conn.execute(query)
            return [dict(r._mapping) for r in result if r.requests]
        sub = union_all(*branches).subquery()
        outer = select(*(sub.c[n] for n in names),
                       *(func.sum(sub.c[x]).label(x) for x in (*COUNTS, *MEASURES)))
        if names:
            outer = outer.group_by(*(sub.c[n] for n in names))
        result = await conn.execute(outer)
        return [dict(r._mapping) for r in result if r.requests]


def _new_acc() -> dict[str, Any]:
    acc: dict[str, Any] = dict.fromkeys((*COUNTS, *MEASURES), 0)
    acc.update(upstream=0, estimated=0, tiers={}, methods=set())
    return acc


def _accumulate(acc: dict[str, Any], raw: dict[str, Any]) -> None:
    for name in (*COUNTS, *MEASURES):
        acc[name] += raw.get(name) or 0
    n = int(raw.get("requests") or 0)
    source = raw.get("g_usage_source")
    if source == "upstream":
        acc["upstream"] += n
    elif source == "estimated":
        acc["estimated"] += n
    tier = raw.get("g_quality")
    if tier:
        acc["tiers"][tier] = acc["tiers"].get(tier, 0) + n
    if raw.get("g_method"):
        acc["methods"].add(raw["g_method"])


def _per(value: float, n: float, scale: float = 1.0) -> float | None:
    return value * scale / n if n else None


def _finish(acc: dict[str, Any]) -> dict[str, Any]:
    n = int(acc["requests"])
    tokens = int(acc["input_tokens"]) + int(acc["output_tokens"])
    wh, g = float(acc["energy_wh"]), float(acc["emissions_gco2e"])
    metered = acc["upstream"] + acc["estimated"]
    tiers = acc["tiers"]
    tier_total = sum(tiers.values())
    return {
        "requests": n,
        "input_tokens": int(acc["input_tokens"]),
        "cached_input_tokens": int(acc["cached_input_tokens"]),
        "output_tokens": int(acc["output_tokens"]),
        "reasoning_tokens": int(acc["reasoning_tokens"]),
        "total_tokens": tokens,
        "energy_kwh": wh / 1000.0,
        "energy_kwh_min": float(acc["energy_wh_min"]) / 1000.0,
        "energy_kwh_max": float(acc["energy_wh_max"]) / 1000.0,
        "emissions_location_gco2e": g,
        "emissions_location_gco2e_min": float(acc["emissions_gco2e_min"]),
        "emissions_location_gco2e_max": float(acc["emissions_gco2e_max"]),
        "emissions_market_gco2e": (float(acc["emissions_market_gco2e"])
                                   if acc["market_requests"] else None),
        "market_coverage": _per(float(acc["market_requests"]), metered) if metered else None,
        "operational_gco2e": float(acc["emissions_operational_gco2e"]),
        "embodied_gco2e": float(acc["emissions_embodied_gco2e"]),
        "water_l": float(acc["water_ml"]) / 1000.0,
        "water_l_min": float(acc["water_ml_min"]) / 1000.0,
        "water_l_max": float(acc["water_ml_max"]) / 1000.0,
        "wh_per_1k_tokens": _per(wh, tokens, 1000.0),
        "gco2e_per_1k_tokens": _per(g, tokens, 1000.0),
        "wh_per_request": _per(wh, n),
        "gco2e_per_request": _per(g, n),
        "upstream_usage_share": _per(acc["upstream"], metered),
        "estimated_usage_share": _per(acc["estimated"], metered),
        "quality_tiers": "; ".join(f"{t} {tiers[t] / tier_total:.1%}" for t in sorted(tiers)),
        "methods": "; ".join(sorted(acc["methods"])),
    }


def _key(value: Any) -> Any:
    return "" if value is None else str(value)


async def run_report(engine: AsyncEngine, f: ReportFilter, by: Sequence[str]) -> Report:
    raw = await aggregate(engine, f, by)
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    total = _new_acc()
    zones: dict[str | None, dict[str, Any]] = {}
    for r in raw:
        key = tuple(r[f"g_{n}"] for n in by)
        _accumulate(groups.setdefault(key, _new_acc()), r)
        _accumulate(total, r)
        _accumulate(zones.setdefault(r.get("g_grid_zone"), _new_acc()), r)
    rows = []
    for key in sorted(groups, key=lambda k: tuple(_key(v) for v in k)):
        head = {n: (None if v is None else str(v)) for n, v in zip(by, key, strict=True)}
        rows.append({**head, **_finish(groups[key])})
    zone_rows = [{"grid_zone": z, **_finish(acc), "methods_set": sorted(acc["methods"])}
                 for z, acc in sorted(zones.items(), key=lambda kv: _key(kv[0]))]
    return Report(period=f.period, by=tuple(by), rows=rows, total=_finish(total),
                  zones=zone_rows)


