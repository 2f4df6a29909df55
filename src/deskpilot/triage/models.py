"""Decision log, per-workspace decision policy and fitted confidence calibrators."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from deskpilot.core.clock import utcnow
from deskpilot.db.base import Base, BigId, IdMixin, JsonValue, WorkspaceScoped


class AiDecision(IdMixin, WorkspaceScoped, Base):
    """One run of the engine: what it saw, what it answered, what it decided and why, and later
    what happened (the outcome that calibration learns from)."""

    __tablename__ = "ai_decisions"
    __table_args__ = (
        Index("ix_ai_decisions_ws_ticket", "workspace_id", "ticket_id", "id"),
        Index("ix_ai_decisions_ws_created", "workspace_id", "created_at"),
    )

    ticket_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("tickets.id", ondelete="CASCADE"), default=None
    )
    # The customer message that triggered the run and the AI message it posted, if any.
    trigger_message_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("messages.id", ondelete="SET NULL"), default=None
    )
    reply_message_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("messages.id", ondelete="SET NULL"), default=None
    )
    source: Mapped[str] = mapped_column(String(16))  # "dry_run" | "ticket" | "chat"
    query: Mapped[str] = mapped_column(Text)
    decision: Mapped[str] = mapped_column(String(16))  # resolve | confirm | clarify | escalate
    confidence: Mapped[float] = mapped_column(Float)
    rule: Mapped[str] = mapped_column(String(48))  # the rule that decided, e.g. "threshold"
    reasons: Mapped[list[str]] = mapped_column(JsonValue, default=list)
    inputs: Mapped[dict[str, Any]] = mapped_column(JsonValue, default=dict)
    answer: Mapped[str | None] = mapped_column(Text, default=None)
    citations: Mapped[list[dict[str, Any]]] = mapped_column(JsonValue, default=list)
    provider: Mapped[str] = mapped_column(String(16), default="builtin")
    model: Mapped[str] = mapped_column(String(200), default="")
    prompt_version: Mapped[str] = mapped_column(String(32), default="")
    calibrator: Mapped[str] = mapped_column(String(64), default="")
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    # confirmed | rejected | reopened | escalated | resolved_by_agent (None until known).
    outcome: Mapped[str | None] = mapped_column(String(24), default=None)
    outcome_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AiPolicy(IdMixin, WorkspaceScoped, Base):
    """A workspace's decision rules (validated by `triage.policy.DecisionPolicy`); no row means
    the defaults."""

    __tablename__ = "ai_policies"
    __table_args__ = (UniqueConstraint("workspace_id"),)

    policy: Mapped[dict[str, Any]] = mapped_column(JsonValue, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AiCalibrator(IdMixin, WorkspaceScoped, Base):
    """A calibrator refitted from the workspace's own outcomes; the newest version is used."""

    __tablename__ = "ai_calibrators"
    __table_args__ = (UniqueConstraint("workspace_id", "version"),)

    version: Mapped[int] = mapped_column(Integer)
    method: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(JsonValue, default=dict)
    samples: Mapped[int] = mapped_column(Integer)
    metrics: Mapped[dict[str, Any]] = mapped_column(JsonValue, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
