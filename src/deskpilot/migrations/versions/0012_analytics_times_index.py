"""analytics: covering index for response and resolution times

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-21 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_analytics_ticket_facts_ws_created_times",
        "analytics_ticket_facts",
        [
            "workspace_id",
            "created_day",
            "first_response_seconds",
            "first_response_business_seconds",
            "resolution_seconds",
            "resolution_business_seconds",
        ],
    )


def downgrade() -> None:
    op.drop_index("ix_analytics_ticket_facts_ws_created_times", table_name="analytics_ticket_facts")
