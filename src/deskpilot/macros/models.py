"""Macros: reusable replies with variables and optional ticket changes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from deskpilot.db.base import Base, BigId, IdMixin, JsonValue, TimestampMixin, WorkspaceScoped


class Macro(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    __tablename__ = "macros"
    __table_args__ = (Index("ix_macros_ws_owner", "workspace_id", "owner_user_id"),)

    name: Mapped[str] = mapped_column(String(120))
    # Markdown with {{ requester.name }}, {{ ticket.number }}, {{ agent.name }} ... placeholders.
    body: Mapped[str] = mapped_column(Text, default="")
    visibility: Mapped[str] = mapped_column(
        String(16), default="public"
    )  # reply: public | internal
    # {"status": "waiting_customer", "priority": "high", "add_tags": [...], "team_id": ...}
    changes: Mapped[dict[str, Any]] = mapped_column(JsonValue, default=dict)
    # None: shared with the workspace; else personal to that user.
    owner_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), default=None
    )
    usage_count: Mapped[int] = mapped_column(Integer, default=0)
