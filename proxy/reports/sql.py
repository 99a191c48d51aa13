"""SQL expressions shared by rollups and reports, written once per database dialect.

Days and months are UTC and come out as text (`2026-10-01`, `2026-10`) on both databases.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Date, String, cast, func, literal
from sqlalchemy.sql.elements import ColumnElement

from proxy.store.tables import RollupStateRow, TeamBudgetRow, UsageDailyRow, UsageEventRow

events = UsageEventRow.__table__
daily = UsageDailyRow.__table__
rollup_state = RollupStateRow.__table__
team_budgets = TeamBudgetRow.__table__

# Sums kept per group; `requests` and `market_requests` are counts.
MEASURES: tuple[str, ...] = (
    "input_tokens", "cached_input_tokens", "output_tokens", "reasoning_tokens",
    "energy_wh", "energy_wh_min", "energy_wh_max",
    "emissions_gco2e", "emissions_gco2e_min", "emissions_gco2e_max",
    "emissions_operational_gco2e", "emissions_embodied_gco2e", "emissions_market_gco2e",
    "water_ml", "water_ml_min", "water_ml_max", "water_onsite_ml", "water_offsite_ml",
)
COUNTS: tuple[str, ...] = ("requests", "market_requests")
# Data-quality dimensions every rollup row keeps apart.
QUALITY_DIMS: tuple[str, ...] = ("usage_source", "quality", "method", "grid_zone")


def event_model() -> ColumnElement[Any]:
    return func.coalesce(events.c.model_id, events.c.requested_model, literal("unknown"))


def event_day(dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return cast(func.timezone("UTC", events.c.created_at), Date)
    return func.date(events.c.created_at)


def event_day_text(dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", events.c.created_at), "YYYY-MM-DD")
    return cast(func.date(events.c.created_at), String)


def event_month_text(dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", events.c.created_at), "YYYY-MM")
    return func.substr(events.c.created_at, 1, 7)


def daily_day_text(dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return func.to_char(daily.c.day, "YYYY-MM-DD")
    return cast(daily.c.day, String)


def daily_month_text(dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return func.to_char(daily.c.day, "YYYY-MM")
    return func.substr(daily.c.day, 1, 7)
