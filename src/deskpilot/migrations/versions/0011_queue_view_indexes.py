"""queue view indexes

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-21 14:30:08.476247
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain index operations (no batch mode): a batch rebuild of `tickets` on SQLite would drop
    # the full-text search triggers that migration 0009 attached to it.
    op.drop_index("ix_tickets_ws_assignee", table_name="tickets")
    op.drop_index("ix_tickets_ws_team", table_name="tickets")
    op.create_index(
        "ix_tickets_ws_assignee_created",
        "tickets",
        ["workspace_id", "assignee_id", "created_at", "id"],
    )
    op.create_index(
        "ix_tickets_ws_team_created", "tickets", ["workspace_id", "team_id", "created_at", "id"]
    )
    op.create_index(
        "ix_tickets_ws_status_assignee_team",
        "tickets",
        ["workspace_id", "status", "assignee_id", "team_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_tickets_ws_status_assignee_team", table_name="tickets")
    op.drop_index("ix_tickets_ws_team_created", table_name="tickets")
    op.drop_index("ix_tickets_ws_assignee_created", table_name="tickets")
    op.create_index("ix_tickets_ws_team", "tickets", ["workspace_id", "team_id"])
    op.create_index("ix_tickets_ws_assignee", "tickets", ["workspace_id", "assignee_id"])
