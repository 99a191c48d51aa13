"""Conversations and end users on usage rows.

Revision ID: 0003_conversations
Revises: 0002
Create Date: 2026-03-01

`conversation_id` groups the calls of one conversation (header `x-wattgate-conversation`,
or the Responses API's `conversation` / `previous_response_id`); `response_id` is the
upstream's id of the answer, so a later `previous_response_id` finds its conversation;
`end_user` is the caller's end user (OpenAI `user`, Anthropic `metadata.user_id`),
hashed by default. All three are nullable: older rows have none.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_conversations"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for name in ("conversation_id", "response_id", "end_user"):
        op.add_column("usage_events", sa.Column(name, sa.String(), nullable=True))
    op.create_index("ix_usage_events_team_conversation_id", "usage_events",
                    ["team", "conversation_id"])
    op.create_index("ix_usage_events_response_id", "usage_events", ["response_id"])


def downgrade() -> None:  # SQLite drops columns by copying the table (batch mode)
    op.drop_index("ix_usage_events_response_id", table_name="usage_events")
    op.drop_index("ix_usage_events_team_conversation_id", table_name="usage_events")
    with op.batch_alter_table("usage_events") as batch:
        batch.drop_column("end_user")
        batch.drop_column("response_id")
        batch.drop_column("conversation_id")
