"""Escalations: one row per hand-off of a ticket to humans."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from deskpilot.core.clock import utcnow
from deskpilot.db.base import Base, BigId, IdMixin, JsonValue, WorkspaceScoped


class Escalation(IdMixin, WorkspaceScoped, Base):
    __tablename__ = "escalations"
    __table_args__ = (
        Index("ix_escalations_ws_status_created", "workspace_id", "status", "created_at"),
        Index("ix_escalations_ws_ticket", "workspace_id", "ticket_id"),
    )

    ticket_id: Mapped[int] = mapped_column(BigId, ForeignKey("tickets.id", ondelete="CASCADE"))
    decision_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("ai_decisions.id", ondelete="SET NULL"), default=None
    )
    # low_confidence | user_requested | policy | sentiment | turn_limit | sla | manual
    reason: Mapped[str] = mapped_column(String(24))
    ai_confidence: Mapped[float | None] = mapped_column(Float, default=None)
    # What the AI tried: its draft answer, citations, decision and rule.
    attempted: Mapped[dict[str, Any]] = mapped_column(JsonValue, default=dict)
    summary: Mapped[str] = mapped_column(Text, default="")
    team_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("teams.id", ondelete="SET NULL"), default=None
    )
    created_by_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | resolved
    # How the hand-off ended, e.g. answered_by_agent, ai_answer_used, returned_to_ai, duplicate.
    resolution: Mapped[str | None] = mapped_column(String(32), default=None)
    resolution_note: Mapped[str | None] = mapped_column(Text, default=None)
    resolved_by_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
