"""Per-workspace mail settings, every email in and out, and notification templates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from deskpilot.core.clock import utcnow
from deskpilot.db.base import Base, BigId, IdMixin, JsonValue, TimestampMixin, WorkspaceScoped

STAFF_KINDS = ("escalation_assigned",)
"""Outbound kinds written to agents about a ticket: never part of the customer's email thread."""


class MailSettings(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    """How a workspace sends and receives mail; no row means email is off for it."""

    __tablename__ = "mail_settings"
    __table_args__ = (UniqueConstraint("workspace_id"),)

    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # The support address customers write to, e.g. support@acme.example; replies come from it.
    support_address: Mapped[str] = mapped_column(String(320))
    from_name: Mapped[str] = mapped_column(String(200), default="")
    # Other addresses that belong to the workspace: mail from them is never a customer's.
    own_addresses: Mapped[list[str]] = mapped_column(JsonValue, default=list)
    # "[#{number}]" style tag put in subjects and recognised in replies.
    subject_tag: Mapped[str] = mapped_column(String(40), default="[#{number}]")
    # What a reply to a closed ticket does: "reopen" or "follow_up" (a new linked ticket).
    closed_reply_policy: Mapped[str] = mapped_column(String(16), default="reopen")
    # Outbound: "smtp" or "outbox" (files under DATA_DIR/outbox, for development).
    outbound_backend: Mapped[str] = mapped_column(String(16), default="outbox")
    smtp_host: Mapped[str | None] = mapped_column(String(255), default=None)
    smtp_port: Mapped[int] = mapped_column(Integer, default=587)
    smtp_security: Mapped[str] = mapped_column(String(16), default="starttls")  # none|starttls|tls
    smtp_username: Mapped[str | None] = mapped_column(String(320), default=None)
    smtp_password_ref: Mapped[str | None] = mapped_column(String(200), default=None)  # env:NAME
    imap_host: Mapped[str | None] = mapped_column(String(255), default=None)
    imap_port: Mapped[int] = mapped_column(Integer, default=993)
    imap_security: Mapped[str] = mapped_column(String(16), default="tls")  # tls | starttls | none
    imap_username: Mapped[str | None] = mapped_column(String(320), default=None)
    imap_password_ref: Mapped[str | None] = mapped_column(String(200), default=None)
    imap_folder: Mapped[str] = mapped_column(String(200), default="INBOX")
    imap_processed_folder: Mapped[str | None] = mapped_column(String(200), default=None)
    # Replies the help desk sends to one sender per hour at most (loop and abuse protection).
    max_replies_per_sender_per_hour: Mapped[int] = mapped_column(Integer, default=10)
    # {"ticket_received": true, "agent_reply": true, ...}: notification kinds switched on.
    notifications: Mapped[dict[str, Any]] = mapped_column(JsonValue, default=dict)


class EmailMessage(IdMixin, WorkspaceScoped, Base):
    """One email received or sent, with its threading headers and delivery state."""

    __tablename__ = "email_messages"
    __table_args__ = (
        UniqueConstraint("workspace_id", "direction", "message_id_header"),
        Index("ix_email_messages_ws_ticket", "workspace_id", "ticket_id"),
        Index("ix_email_messages_ws_status", "workspace_id", "status", "next_attempt_at"),
    )

    direction: Mapped[str] = mapped_column(String(8))  # inbound | outbound
    message_id_header: Mapped[str] = mapped_column(String(998))
    in_reply_to: Mapped[str | None] = mapped_column(String(998), default=None)
    references: Mapped[list[str]] = mapped_column(JsonValue, default=list)
    ticket_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("tickets.id", ondelete="SET NULL"), default=None
    )
    message_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("messages.id", ondelete="SET NULL"), default=None
    )
    kind: Mapped[str] = mapped_column(String(32), default="reply")  # reply | notification kind
    from_address: Mapped[str] = mapped_column(String(320))
    to_addresses: Mapped[list[str]] = mapped_column(JsonValue, default=list)
    cc_addresses: Mapped[list[str]] = mapped_column(JsonValue, default=list)
    subject: Mapped[str] = mapped_column(Text, default="")
    # The full original (inbound) or what was sent (outbound), under DATA_DIR/mail/.
    raw_path: Mapped[str | None] = mapped_column(String(500), default=None)
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    # inbound: stored | ignored (auto-reply, bounce, own address, duplicate, rate-limited);
    # outbound: queued | sent | failed | suppressed
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(500), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EmailTemplate(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    """An admin's version of a notification; without one the built-in template is used."""

    __tablename__ = "email_templates"
    __table_args__ = (UniqueConstraint("workspace_id", "kind"),)

    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(Text)
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text, default=None)
