"""Roll-up tables the dashboards read: one fact row per ticket and a few per-day aggregates.

Every row is rebuilt by `analytics.rollups` (delete + insert per workspace and day range), so these
tables are derived data: dropping them loses nothing that a recompute cannot restore. Days are
local dates in the workspace's reporting time zone (see `analytics.periods`).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from deskpilot.core.clock import utcnow
from deskpilot.db.base import Base, BigId, IdMixin, WorkspaceScoped


class TicketFact(IdMixin, WorkspaceScoped, Base):
    """One row per ticket: its dimensions and the measured times, ready to aggregate."""

    __tablename__ = "analytics_ticket_facts"
    __table_args__ = (
        UniqueConstraint("ticket_id"),
        Index("ix_analytics_ticket_facts_ws_created", "workspace_id", "created_day"),
        # Covers the response/resolution-time widget: its percentiles never read the table.
        Index(
            "ix_analytics_ticket_facts_ws_created_times",
            "workspace_id",
            "created_day",
            "first_response_seconds",
            "first_response_business_seconds",
            "resolution_seconds",
            "resolution_business_seconds",
        ),
        Index("ix_analytics_ticket_facts_ws_resolved", "workspace_id", "resolved_day"),
        Index(
            "ix_analytics_ticket_facts_ws_backlog", "workspace_id", "is_open", "status", "priority"
        ),
    )

    ticket_id: Mapped[int] = mapped_column(BigId, ForeignKey("tickets.id", ondelete="CASCADE"))
    created_day: Mapped[date] = mapped_column(Date)
    resolved_day: Mapped[date | None] = mapped_column(Date, default=None)
    status: Mapped[str] = mapped_column(String(24))
    priority: Mapped[str] = mapped_column(String(16))
    is_open: Mapped[bool] = mapped_column(Boolean)
    channel: Mapped[str] = mapped_column(String(16))
    type: Mapped[str | None] = mapped_column(String(24), default=None)
    category: Mapped[str | None] = mapped_column(String(120), default=None)
    organization_id: Mapped[int | None] = mapped_column(BigId, default=None)
    team_id: Mapped[int | None] = mapped_column(BigId, default=None)
    assignee_id: Mapped[int | None] = mapped_column(BigId, default=None)
    first_response_seconds: Mapped[int | None] = mapped_column(Integer, default=None)
    first_response_business_seconds: Mapped[int | None] = mapped_column(Integer, default=None)
    first_response_by: Mapped[str | None] = mapped_column(String(16), default=None)
    next_response_seconds_sum: Mapped[int] = mapped_column(Integer, default=0)
    next_response_count: Mapped[int] = mapped_column(Integer, default=0)
    resolution_seconds: Mapped[int | None] = mapped_column(Integer, default=None)
    resolution_business_seconds: Mapped[int | None] = mapped_column(Integer, default=None)
    ever_resolved: Mapped[bool] = mapped_column(Boolean, default=False)
    reopened_count: Mapped[int] = mapped_column(Integer, default=0)
    resolved_by: Mapped[str | None] = mapped_column(String(16), default=None)
    ai_deflected: Mapped[bool] = mapped_column(Boolean, default=False)
    agent_public_replies: Mapped[int] = mapped_column(Integer, default=0)
    assisted_replies: Mapped[int] = mapped_column(Integer, default=0)
    escalations: Mapped[int] = mapped_column(Integer, default=0)
    csat_score: Mapped[int | None] = mapped_column(Integer, default=None)
    sla_first_response: Mapped[str | None] = mapped_column(String(16), default=None)
    sla_resolution: Mapped[str | None] = mapped_column(String(16), default=None)
    sla_next_response_met: Mapped[int] = mapped_column(Integer, default=0)
    sla_next_response_breached: Mapped[int] = mapped_column(Integer, default=0)
    ai_decisions: Mapped[int] = mapped_column(Integer, default=0)
    ai_tokens: Mapped[int] = mapped_column(Integer, default=0)
    ai_cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class AgentDailyStats(WorkspaceScoped, Base):
    """What one staff member did on one day (activity is counted on the day it happened)."""

    __tablename__ = "agent_daily_stats"

    workspace_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    handled: Mapped[int] = mapped_column(Integer, default=0)
    replies: Mapped[int] = mapped_column(Integer, default=0)
    assisted_replies: Mapped[int] = mapped_column(Integer, default=0)
    resolved: Mapped[int] = mapped_column(Integer, default=0)
    escalated: Mapped[int] = mapped_column(Integer, default=0)
    first_response_seconds_sum: Mapped[int] = mapped_column(Integer, default=0)
    first_response_count: Mapped[int] = mapped_column(Integer, default=0)
    resolution_seconds_sum: Mapped[int] = mapped_column(Integer, default=0)
    resolution_count: Mapped[int] = mapped_column(Integer, default=0)
    csat_sum: Mapped[int] = mapped_column(Integer, default=0)
    csat_count: Mapped[int] = mapped_column(Integer, default=0)


class ModelDailyStats(WorkspaceScoped, Base):
    """What one provider/model did on one day: decisions, outcomes, tokens and cost."""

    __tablename__ = "model_daily_stats"

    workspace_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    provider: Mapped[str] = mapped_column(String(16), primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    requests: Mapped[int] = mapped_column(Integer, default=0)
    resolutions: Mapped[int] = mapped_column(Integer, default=0)
    confirmations: Mapped[int] = mapped_column(Integer, default=0)
    clarifications: Mapped[int] = mapped_column(Integer, default=0)
    escalations: Mapped[int] = mapped_column(Integer, default=0)
    confidence_sum: Mapped[float] = mapped_column(Float, default=0.0)
    high_confidence: Mapped[int] = mapped_column(Integer, default=0)
    low_confidence: Mapped[int] = mapped_column(Integer, default=0)
    outcome_confirmed: Mapped[int] = mapped_column(Integer, default=0)
    outcome_rejected: Mapped[int] = mapped_column(Integer, default=0)
    outcome_reopened: Mapped[int] = mapped_column(Integer, default=0)
    outcome_escalated: Mapped[int] = mapped_column(Integer, default=0)
    calls: Mapped[int] = mapped_column(Integer, default=0)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    satisfaction_sum: Mapped[int] = mapped_column(Integer, default=0)
    satisfaction_count: Mapped[int] = mapped_column(Integer, default=0)


class ConfidenceDailyStats(WorkspaceScoped, Base):
    """AI answer confidence per 0.05-wide bin and day: decisions made, and labelled outcomes
    (right or wrong) that became known that day; calibration charts are built from these."""

    __tablename__ = "ai_confidence_daily_stats"

    workspace_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    bin: Mapped[int] = mapped_column(Integer, primary_key=True)
    decisions: Mapped[int] = mapped_column(Integer, default=0)
    labelled: Mapped[int] = mapped_column(Integer, default=0)
    correct: Mapped[int] = mapped_column(Integer, default=0)
    labelled_confidence_sum: Mapped[float] = mapped_column(Float, default=0.0)


class EscalationDailyStats(WorkspaceScoped, Base):
    __tablename__ = "escalation_daily_stats"

    workspace_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    reason: Mapped[str] = mapped_column(String(24), primary_key=True)
    # 0 stands for "no team" so the key has no NULL.
    team_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    escalations: Mapped[int] = mapped_column(Integer, default=0)


class KbDailyStats(WorkspaceScoped, Base):
    """Knowledge-base searches per day and source, and what came of them."""

    __tablename__ = "kb_search_daily_stats"

    workspace_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    searches: Mapped[int] = mapped_column(Integer, default=0)
    zero_results: Mapped[int] = mapped_column(Integer, default=0)
    low_confidence: Mapped[int] = mapped_column(Integer, default=0)
    clicked: Mapped[int] = mapped_column(Integer, default=0)
    tickets_filed: Mapped[int] = mapped_column(Integer, default=0)
    deflected: Mapped[int] = mapped_column(Integer, default=0)


class RollupState(WorkspaceScoped, Base):
    """When each workspace's roll-ups were last rebuilt (shown on the dashboards)."""

    __tablename__ = "analytics_rollup_state"

    workspace_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    last_run_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_from: Mapped[date] = mapped_column(Date)
    last_to: Mapped[date] = mapped_column(Date)
    tickets: Mapped[int] = mapped_column(Integer, default=0)
