"""The schema as SQLAlchemy rows. Alembic migrations create it; tests check the two agree."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Dialect,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out on both databases.

    SQLite has no timestamp type: values are stored as naive UTC text, so ordering and range
    queries stay correct, and are handed back as aware UTC. Naive inputs are taken as UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# SQLite only auto-increments an INTEGER PRIMARY KEY; Postgres gets a 64-bit identity.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: dict[Any, Any] = {datetime: UTCDateTime(), float: Double()}


class TeamRow(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]


class ApiKeyRow(Base):
    """A team key. Only its SHA-256 is stored; `prefix` lets people tell keys apart."""

    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    name: Mapped[str | None] = mapped_column(String(128))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class UsageEventRow(Base):
    """One row per upstream attempt, insert-only; columns mirror `proxy.events.UsageEvent`.

    `team` and `key_id` are plain text, not foreign keys: usage must be recorded even for
    open-mode teams with no row in `teams`, and must outlive deleted teams for ESG history.
    """

    __tablename__ = "usage_events"
    __table_args__ = (
        Index("ix_usage_events_team_created_at", "team", "created_at"),
        Index("ix_usage_events_created_at", "created_at"),
        Index("ix_usage_events_request_id", "request_id"),
        Index("ix_usage_events_team_conversation_id", "team", "conversation_id"),
        Index("ix_usage_events_response_id", "response_id"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String, unique=True)
    request_id: Mapped[str] = mapped_column(String)
    created_at: Mapped[datetime]
    team: Mapped[str] = mapped_column(String)
    endpoint: Mapped[str] = mapped_column(String)
    status_code: Mapped[int]
    key_id: Mapped[str | None] = mapped_column(String)
    requested_model: Mapped[str | None] = mapped_column(String)
    served_model: Mapped[str | None] = mapped_column(String)
    model_id: Mapped[str | None] = mapped_column(String)
    provider: Mapped[str | None] = mapped_column(String)
    deployment: Mapped[str | None] = mapped_column(String)
    attempt: Mapped[int]
    stream: Mapped[bool] = mapped_column(Boolean)
    metered: Mapped[bool] = mapped_column(Boolean)
    input_tokens: Mapped[int]
    cached_input_tokens: Mapped[int]
    output_tokens: Mapped[int]
    reasoning_tokens: Mapped[int]
    usage_source: Mapped[str] = mapped_column(String)
    latency_s: Mapped[float]
    ttft_s: Mapped[float | None]
    energy_wh: Mapped[float]
    energy_wh_min: Mapped[float]
    energy_wh_max: Mapped[float]
    emissions_gco2e: Mapped[float]
    emissions_gco2e_min: Mapped[float]
    emissions_gco2e_max: Mapped[float]
    emissions_operational_gco2e: Mapped[float]
    emissions_embodied_gco2e: Mapped[float]
    emissions_market_gco2e: Mapped[float | None]
    water_ml: Mapped[float]
    water_ml_min: Mapped[float]
    water_ml_max: Mapped[float]
    water_onsite_ml: Mapped[float | None]
    water_offsite_ml: Mapped[float | None]
    grid_zone: Mapped[str | None] = mapped_column(String)
    grid_gco2e_per_kwh: Mapped[float | None]
    method: Mapped[str | None] = mapped_column(String)
    market_source: Mapped[str | None] = mapped_column(String)
    factors: Mapped[str | None] = mapped_column(String)
    quality: Mapped[str | None] = mapped_column(String)
    error_type: Mapped[str | None] = mapped_column(String)
    warnings: Mapped[str | None] = mapped_column(String)  # comma-joined, see UsageEvent.to_row
    conversation_id: Mapped[str | None] = mapped_column(String)
    response_id: Mapped[str | None] = mapped_column(String)
    end_user: Mapped[str | None] = mapped_column(String)
    task: Mapped[str | None] = mapped_column(String(16))
    task_confidence: Mapped[float | None]
    task_signals: Mapped[str | None] = mapped_column(String)


class UsageDailyRow(Base):
    """Daily sums of `usage_events` per team, model, provider, key and data-quality class.

    Derived data kept by `proxy.reports.rollups`; every day can be rebuilt from the events.
    """

    __tablename__ = "usage_daily"
    __table_args__ = (Index("ix_usage_daily_day_team", "day", "team"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    day: Mapped[date] = mapped_column(Date)
    team: Mapped[str] = mapped_column(String)
    model: Mapped[str] = mapped_column(String)
    provider: Mapped[str | None] = mapped_column(String)
    key_id: Mapped[str | None] = mapped_column(String)
    usage_source: Mapped[str] = mapped_column(String)
    quality: Mapped[str | None] = mapped_column(String)
    method: Mapped[str | None] = mapped_column(String)
    grid_zone: Mapped[str | None] = mapped_column(String)
    requests: Mapped[int] = mapped_column(BigInteger)
    market_requests: Mapped[int] = mapped_column(BigInteger)
    input_tokens: Mapped[int] = mapped_column(BigInteger)
    cached_input_tokens: Mapped[int] = mapped_column(BigInteger)
    output_tokens: Mapped[int] = mapped_column(BigInteger)
    reasoning_tokens: Mapped[int] = mapped_column(BigInteger)
    energy_wh: Mapped[float]
    energy_wh_min: Mapped[float]
    energy_wh_max: Mapped[float]
    emissions_gco2e: Mapped[float]
    emissions_gco2e_min: Mapped[float]
    emissions_gco2e_max: Mapped[float]
    emissions_operational_gco2e: Mapped[float]
    emissions_embodied_gco2e: Mapped[float]
    emissions_market_gco2e: Mapped[float]
    water_ml: Mapped[float]
    water_ml_min: Mapped[float]
    water_ml_max: Mapped[float]
    water_onsite_ml: Mapped[float] = mapped_column(server_default="0")
    water_offsite_ml: Mapped[float] = mapped_column(server_default="0")


class RollupStateRow(Base):
    """How far `usage_daily` is built: events up to `last_event_id`, days before
    `rolled_through`."""

    __tablename__ = "rollup_state"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_event_id: Mapped[int] = mapped_column(BigInteger)
    rolled_through: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime]


class TeamBudgetRow(Base):
    """A team's monthly budget (UTC calendar month); any limit may be unset."""

    __tablename__ = "team_budgets"

    team: Mapped[str] = mapped_column(String(64), primary_key=True)
    soft_gco2e: Mapped[float | None]
    hard_gco2e: Mapped[float | None]
    soft_wh: Mapped[float | None]
    hard_wh: Mapped[float | None]
    updated_at: Mapped[datetime]


class ShadowVerdictRow(Base):
    """One shadow evaluation: a sampled call's request sent again to a candidate deployment,
    after the client had its answer, and whether the two answers agree.

    Only the verdict and the candidate's own tokens and impacts are kept, never text.
    `request_id` links to the original call's `usage_events` rows. The candidate's energy
    is metered here and nowhere else: it is not part of any team's usage totals.
    """

    __tablename__ = "shadow_verdicts"
    __table_args__ = (Index("ix_shadow_verdicts_team_created_at", "team", "created_at"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime]
    request_id: Mapped[str] = mapped_column(String)
    team: Mapped[str] = mapped_column(String)
    task: Mapped[str] = mapped_column(String(16))
    model: Mapped[str | None] = mapped_column(String)  # what answered the client
    candidate: Mapped[str] = mapped_column(String)  # deployment name, as rules name it
    candidate_model: Mapped[str | None] = mapped_column(String)  # catalog id it was estimated as
    comparison: Mapped[str] = mapped_column(String(16))  # label | fields | exact
    verdict: Mapped[str] = mapped_column(String(16))  # agree | disagree | error
    status_code: Mapped[int | None]
    input_tokens: Mapped[int]
    cached_input_tokens: Mapped[int]
    output_tokens: Mapped[int]
    reasoning_tokens: Mapped[int]
    usage_source: Mapped[str] = mapped_column(String)
    latency_s: Mapped[float]
    energy_wh: Mapped[float]
    energy_wh_min: Mapped[float]
    energy_wh_max: Mapped[float]
    emissions_gco2e: Mapped[float]
    emissions_gco2e_min: Mapped[float]
    emissions_gco2e_max: Mapped[float]
    water_ml: Mapped[float]
    grid_zone: Mapped[str | None] = mapped_column(String)
    method: Mapped[str | None] = mapped_column(String)
