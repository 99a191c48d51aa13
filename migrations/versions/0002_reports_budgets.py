"""Daily usage rollups (with their refresh state) and per-team monthly budgets.

Revision ID: 0002
Revises: 0001
Create Date: 2026-02-01

`usage_daily` is derived data: `proxy.reports.rollups.refresh` rebuilds any day from
`usage_events` (the source of truth), so dropping and rebuilding it is always safe.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIMESTAMP = sa.DateTime(timezone=True)
BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _float(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.Double(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "usage_daily",
        sa.Column("id", BIG, autoincrement=True, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("team", sa.String(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("provider", sa.String(), nullable=True),
        sa.Column("key_id", sa.String(), nullable=True),
        sa.Column("usage_source", sa.String(), nullable=False),
        sa.Column("quality", sa.String(), nullable=True),
        sa.Column("method", sa.String(), nullable=True),
        sa.Column("grid_zone", sa.String(), nullable=True),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("market_requests", sa.BigInteger(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cached_input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("reasoning_tokens", sa.BigInteger(), nullable=False),
        _float("energy_wh"),
        _float("energy_wh_min"),
        _float("energy_wh_max"),
        _float("emissions_gco2e"),
        _float("emissions_gco2e_min"),
        _float("emissions_gco2e_max"),
        _float("emissions_operational_gco2e"),
        _float("emissions_embodied_gco2e"),
        _float("emissions_market_gco2e"),
        _float("water_ml"),
        _float("water_ml_min"),
        _float("water_ml_max"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_daily")),
    )
    op.create_index("ix_usage_daily_day_team", "usage_daily", ["day", "team"])
    op.create_table(
        "rollup_state",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("last_event_id", sa.BigInteger(), nullable=False),
        sa.Column("rolled_through", sa.Date(), nullable=True),
        sa.Column("updated_at", UTC_TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_rollup_state")),
    )
    op.create_table(
        "team_budgets",
        sa.Column("team", sa.String(length=64), nullable=False),
        _float("soft_gco2e", nullable=True),
        _float("hard_gco2e", nullable=True),
        _float("soft_wh", nullable=True),
        _float("hard_wh", nullable=True),
        sa.Column("updated_at", UTC_TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("team", name=op.f("pk_team_budgets")),
    )


def downgrade() -> None:
    op.drop_table("team_budgets")
    op.drop_table("rollup_state")
    op.drop_index("ix_usage_daily_day_team", table_name="usage_daily")
    op.drop_table("usage_daily")
