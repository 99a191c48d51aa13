"""Water split and the applied coefficients on usage rows (estimator wattgate-3).

Revision ID: 0005_estimator_v3
Revises: 0004_rightsizing
Create Date: 2026-03-01

`usage_events` gains the on-site (cooling) and off-site (electricity generation) parts of
`water_ml`, the source of the market-based factor, and `factors`: every coefficient the
estimate applied, with its origin (see `estimators.factors`). Rows estimated before keep
NULL in all four: their method did not record them. `usage_daily` sums the water split.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_estimator_v3"
down_revision: str | None = "0004_rightsizing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EVENT_COLUMNS = (
    ("water_onsite_ml", sa.Double),
    ("water_offsite_ml", sa.Double),
    ("market_source", sa.String),
    ("factors", sa.String),
)
DAILY_COLUMNS = ("water_onsite_ml", "water_offsite_ml")


def upgrade() -> None:
    with op.batch_alter_table("usage_events") as batch:
        for name, kind in EVENT_COLUMNS:
            batch.add_column(sa.Column(name, kind(), nullable=True))
    with op.batch_alter_table("usage_daily") as batch:
        for name in DAILY_COLUMNS:
            batch.add_column(sa.Column(name, sa.Double(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("usage_daily") as batch:
        for name in DAILY_COLUMNS:
            batch.drop_column(name)
    with op.batch_alter_table("usage_events") as batch:
        for name, _ in reversed(EVENT_COLUMNS):
            batch.drop_column(name)
