from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from deskpilot.core.clock import utcnow
from deskpilot.customers.models import Contact
from deskpilot.db.base import Base, BigId, IdMixin, JsonValue, TimestampMixin, WorkspaceScoped


class Ticket(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("workspace_id", "number"),
        Index("ix_tickets_ws_created", "workspace_id", "created_at", "id"),
        Index("ix_tickets_ws_updated", "workspace_id", "updated_at", "id"),
        Index("ix_tickets_ws_status_created", "workspace_id", "status", "created_at"),
        Index("ix_tickets_ws_priority", "workspace_id", "priority"),
        Index("ix_tickets_ws_type", "workspace_id", "type"),
        # Queue views: "mine", "unassigned" and team queues newest first, and their counts.
        Index("ix_tickets_ws_assignee_created", "workspace_id", "assignee_id", "created_at", "id"),
        Index("ix_tickets_ws_team_created", "workspace_id", "team_id", "created_at", "id"),
        Index(
            "ix_tickets_ws_status_assignee_team", "workspace_id", "status", "assignee_id", "team_id"
        ),
        Index(
            "ix_tickets_ws_requester_created", "workspace_id", "requester_id", "created_at", "id"
        ),
        Index("ix_tickets_ws_org", "workspace_id", "organization_id"),
    )

    number: Mapped[int] = mapped_column(Integer)
    subject: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(24), default="new")
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    impact: Mapped[str] = mapped_column(String(24), default="single_user")
    channel: Mapped[str] = mapped_column(String(16), default="api")
    type: Mapped[str | None] = mapped_column(String(24), default=None)
    category: Mapped[str | None] = mapped_column(String(120), default=None)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(default=dict)

    requester_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("contacts.id", ondelete="SET NULL"), default=None
    )
    organization_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("organizations.id", ondelete="SET NULL"), default=None
    )
    assignee_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    team_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("teams.id", ondelete="SET NULL"), default=None
    )
    parent_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("tickets.id", ondelete="SET NULL"), default=None
    )
    merged_into_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("tickets.id", ondelete="SET NULL"), default=None
    )

    first_response_at: Mapped[datetime | None] = mapped_column(default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    reopened_count: Mapped[int] = mapped_column(Integer, default=0)
    csat_score: Mapped[int | None] = mapped_column(SmallInteger, default=None)
    csat_comment: Mapped[str | None] = mapped_column(Text, default=None)

    ai_confidence: Mapped[float | None] = mapped_column(Float, default=None)
    ai_decision: Mapped[str | None] = mapped_column(String(16), default=None)
    ai_model: Mapped[str | None] = mapped_column(String(120), default=None)
    ai_ran_at: Mapped[datetime | None] = mapped_column(default=None)
    # Predicted type, priority and category: {"type": {"label", "confidence"}, ...}.
    ai_classification: Mapped[dict[str, Any] | None] = mapped_column(default=None)

    requester: Mapped[Contact | None] = relationship(lazy="selectin")
    tag_rows: Mapped[list[TicketTag]] = relationship(
        back_populates="ticket",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="TicketTag.tag",
    )

    @property
    def tags(self) -> list[str]:
        return [row.tag for row in self.tag_rows]

    @property
    def ai(self) -> dict[str, Any] | None:
        """The AI's last verdict on this ticket, or None until the AI has run."""
        if self.ai_ran_at is None:
            return None
        return {
            "confidence": self.ai_confidence,
            "decision": self.ai_decision,
            "model": self.ai_model,
            "ran_at": self.ai_ran_at,
            "classification": self.ai_classification,
        }


class TicketTag(IdMixin, WorkspaceScoped, Base):
    """One row per tag so tag filters use an index on every database."""

    __tablename__ = "ticket_tags"
    __table_args__ = (
        UniqueConstraint("ticket_id", "tag"),
        Index("ix_ticket_tags_ws_tag_ticket", "workspace_id", "tag", "ticket_id"),
    )

    ticket_id: Mapped[int] = mapped_column(BigId, ForeignKey("tickets.id", ondelete="CASCADE"))
    tag: Mapped[str] = mapped_column(String(64))
    ticket: Mapped[Ticket] = relationship(back_populates="tag_rows")


class Message(IdMixin, WorkspaceScoped, Base):
    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_ticket_created", "ticket_id", "created_at", "id"),)

    ticket_id: Mapped[int] = mapped_column(BigId, ForeignKey("tickets.id", ondelete="CASCADE"))
    author_type: Mapped[str] = mapped_column(String(16))
    author_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    author_contact_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("contacts.id", ondelete="SET NULL"), default=None
    )
    visibility: Mapped[str] = mapped_column(String(16), default="public")
    channel: Mapped[str] = mapped_column(String(16), default="api")
    body: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    ai_meta: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    attachments: Mapped[list[Attachment]] = relationship(lazy="selectin", order_by="Attachment.id")


class Attachment(IdMixin, WorkspaceScoped, Base):
    __tablename__ = "attachments"

    message_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("messages.id", ondelete="CASCADE"), default=None, index=True
    )
    uploaded_by_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(127))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TicketEvent(IdMixin, WorkspaceScoped, Base):
    """Immutable audit trail: written by tickets.service only, never updated or deleted."""

    __tablename__ = "ticket_events"
    __table_args__ = (Index("ix_ticket_events_ticket", "ticket_id", "id"),)

    ticket_id: Mapped[int] = mapped_column(BigId, ForeignKey("tickets.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    field: Mapped[str | None] = mapped_column(String(64), default=None)
    old_value: Mapped[Any] = mapped_column(JsonValue, default=None, nullable=True)
    new_value: Mapped[Any] = mapped_column(JsonValue, default=None, nullable=True)
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    ticket: Mapped[Ticket] = relationship(lazy="raise")
