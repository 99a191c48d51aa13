"""Task shape on every usage row, and shadow-evaluation verdicts.

Revision ID: 0004_rightsizing
Revises: 0003_conversations
Create Date: 2026-03-01

`usage_events` gains `task`, `task_confidence` and `task_signals` (nullable: rows written
before this revision have no task shape). `shadow_verdicts` holds one row per shadow
evaluation: the verdict and the candidate's tokens and impacts, never text.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_rightsizing"
down_revision: str | None = "0003_conversations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIMESTAMP = sa.DateTime(timezone=True)
BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _float(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.Double(), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("usage_events") as batch:
        batch.add_column(sa.Column("task", sa.String(length=16), nullable=True))
        batch.add_column(_float("task_confidence", nullable=True))
        batch.add_column(sa.Column("task_signals", sa.String(), nullable=True))
    op.create_table(
        "shadow_verdicts",
        sa.Column("id", BIG, autoincrement=True, nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("request_id", sa.String(), nullable=False),
        sa.Column("team", sa.String(), nullable=False),
        sa.Column("task", sa.String(length=16), nullable=False),
        sa.Column("model", sa.String(), nullable=True),
        sa.Column("candidate", sa.String(), nullable=False),
        sa.Column("candidate_model", sa.String(), nullable=True),
        sa.Column("comparison", sa.String(length=16), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("cached_input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("reasoning_tokens", sa.Integer(), nullable=False),
        sa.Column("usage_source", sa.String(), nullable=False),
        _float("latency_s"),
        _float("energy_wh"),
        _float("energy_wh_min"),
        _float("energy_wh_max"),
        _float("emissions_gco2e"),
        _float("emissions_gco2e_min"),
        _float("emissions_gco2e_max"),
        _float("water_ml"),
        sa.Column("grid_zone", sa.String(), nullable=True),
        sa.Column("method", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shadow_verdicts")),
    )
    op.create_index(
        "ix_shadow_verdicts_team_created_at", "shadow_verdicts", ["team", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_shadow_verdicts_team_created_at", table_name="shadow_verdicts")
    op.drop_table("shadow_verdicts")
    with op.batch_alter_table("usage_events") as batch:
        batch.drop_column("task_signals")
        batch.drop_column("task_confidence")
        batch.drop_column("task")
