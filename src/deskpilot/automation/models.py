"""Automation rules and the record of every run."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from deskpilot.core.clock import utcnow
from deskpilot.db.base import Base, BigId, IdMixin, JsonValue, TimestampMixin, WorkspaceScoped


class AutomationRule(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    __tablename__ = "automation_rules"
    __table_args__ = (
        Index("ix_automation_rules_ws_trigger", "workspace_id", "trigger", "position"),
    )

    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    # ticket_created | ticket_updated | message_received | time_based
    trigger: Mapped[str] = mapped_column(String(24))
    position: Mapped[int] = mapped_column(Integer, default=0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    match: Mapped[str] = mapped_column(String(8), default="all")  # all | any
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JsonValue, default=list)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JsonValue, default=list)
    stop_processing: Mapped[bool] = mapped_column(Boolean, default=False)


class AutomationRun(IdMixin, WorkspaceScoped, Base):
    """One evaluation of one rule on one ticket for one event (idempotent per event key)."""

    __tablename__ = "automation_runs"
    __table_args__ = (
        UniqueConstraint("rule_id", "ticket_id", "event_key"),
        Index("ix_automation_runs_ws_ticket", "workspace_id", "ticket_id", "id"),
    )

    rule_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("automation_rules.id", ondelete="CASCADE")
    )
    ticket_id: Mapped[int] = mapped_column(BigId, ForeignKey("tickets.id", ondelete="CASCADE"))
    trigger: Mapped[str] = mapped_column(String(24))
    # What the run reacted to, e.g. "created", "event:123", "message:45", "time:2026-11-21".
    event_key: Mapped[str] = mapped_column(String(80))
    matched: Mapped[bool] = mapped_column(Boolean)
    actions_applied: Mapped[list[dict[str, Any]]] = mapped_column(JsonValue, default=list)
    error: Mapped[str | None] = mapped_column(String(500), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
