"""Business-hours calendars, SLA policies and each ticket's SLA clocks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from deskpilot.core.clock import utcnow
from deskpilot.db.base import Base, BigId, IdMixin, JsonValue, TimestampMixin, WorkspaceScoped


class BusinessHours(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    """A weekly schedule in a time zone, with holidays; SLA targets in business hours use one."""

    __tablename__ = "business_hours"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    name: Mapped[str] = mapped_column(String(120))
    timezone: Mapped[str] = mapped_column(String(64))  # IANA name, e.g. "Europe/Berlin"
    # {"mon": [["09:00", "17:00"]], ..., "sun": []}: local wall-clock intervals per weekday.
    schedule: Mapped[dict[str, Any]] = mapped_column(JsonValue, default=dict)
    # ["2026-12-25", ...]: local dates with no business hours at all.
    holidays: Mapped[list[str]] = mapped_column(JsonValue, default=list)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)


class SlaPolicy(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    """Targets for tickets matching its conditions; the first enabled match by position wins."""

    __tablename__ = "sla_policies"
    __table_args__ = (Index("ix_sla_policies_ws_position", "workspace_id", "position"),)

    name: Mapped[str] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(Integer, default=0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # {"priority": ["urgent"], "organization_tier": ["enterprise"], "channel": [...],
    #  "type": [...], "category": [...]}: every listed field must match (a missing one matches all).
    conditions: Mapped[dict[str, Any]] = mapped_column(JsonValue, default=dict)
    first_response_minutes: Mapped[int | None] = mapped_column(Integer, default=None)
    next_response_minutes: Mapped[int | None] = mapped_column(Integer, default=None)
    resolution_minutes: Mapped[int | None] = mapped_column(Integer, default=None)
    # None: calendar hours; else minutes count only inside that calendar's business hours.
    business_hours_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("business_hours.id", ondelete="SET NULL"), default=None
    )
    pause_when_waiting_customer: Mapped[bool] = mapped_column(Boolean, default=True)
    at_risk_percent: Mapped[int] = mapped_column(Integer, default=80)
    # [{"type": "notify_assignee"}, {"type": "raise_priority"}, {"type": "assign_team",
    #   "team_id": 3}, ...] applied once per breach.
    breach_actions: Mapped[list[dict[str, Any]]] = mapped_column(JsonValue, default=list)


class TicketSla(IdMixin, WorkspaceScoped, Base):
    """One SLA clock of one ticket (metric: first_response, next_response or resolution).

    `elapsed_seconds` is the counted time (business or calendar) up to `counted_at`; while the
    clock runs, the due time is precomputed in `due_at` and `at_risk_at` so the periodic sweep is
    a range scan on (state, due_at), not a computation per ticket.
    """

    __tablename__ = "ticket_slas"
    __table_args__ = (
        UniqueConstraint("ticket_id", "metric", "cycle"),
        Index("ix_ticket_slas_sweep", "workspace_id", "state", "at_risk_at"),
        Index("ix_ticket_slas_due", "state", "due_at"),
        Index("ix_ticket_slas_risk", "state", "at_risk_at"),
    )

    ticket_id: Mapped[int] = mapped_column(BigId, ForeignKey("tickets.id", ondelete="CASCADE"))
    policy_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("sla_policies.id", ondelete="SET NULL"), default=None
    )
    metric: Mapped[str] = mapped_column(String(16))
    # next_response restarts on each customer message: one row per cycle.
    cycle: Mapped[int] = mapped_column(Integer, default=1)
    target_minutes: Mapped[int] = mapped_column(Integer)
    business_hours_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("business_hours.id", ondelete="SET NULL"), default=None
    )
    # running | paused | met | breached (breached clocks keep counting until met or stopped)
    state: Mapped[str] = mapped_column(String(16), default="running")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    counted_at: Mapped[datetime] = mapped_column(default=utcnow)
    elapsed_seconds: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime | None] = mapped_column(default=None)
    at_risk_at: Mapped[datetime | None] = mapped_column(default=None)
    at_risk_flagged_at: Mapped[datetime | None] = mapped_column(default=None)
    breached_at: Mapped[datetime | None] = mapped_column(default=None)
    # Set when the breach's actions ran: the sweep acts exactly once per breach.
    breach_handled_at: Mapped[datetime | None] = mapped_column(default=None)
    stopped_at: Mapped[datetime | None] = mapped_column(default=None)
