"""Agent availability, capacity and skills; each team's assignment strategy."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from deskpilot.core.clock import utcnow
from deskpilot.db.base import Base, BigId, IdMixin, JsonValue, WorkspaceScoped


class AgentStatus(IdMixin, WorkspaceScoped, Base):
    __tablename__ = "agent_status"
    __table_args__ = (UniqueConstraint("workspace_id", "user_id"),)

    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    availability: Mapped[str] = mapped_column(
        String(16), default="online"
    )  # online | away | offline
    # Open tickets the agent may hold; automatic assignment never goes above it.
    capacity: Mapped[int] = mapped_column(Integer, default=10)
    skills: Mapped[list[str]] = mapped_column(JsonValue, default=list)  # categories
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TeamRouting(IdMixin, WorkspaceScoped, Base):
    __tablename__ = "team_routing"
    __table_args__ = (UniqueConstraint("team_id"),)

    team_id: Mapped[int] = mapped_column(BigId, ForeignKey("teams.id", ondelete="CASCADE"))
    strategy: Mapped[str] = mapped_column(
        String(16), default="manual"
    )  # manual | round_robin | least_load
    # Round-robin's cursor: the agent who got the last ticket.
    last_assigned_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
