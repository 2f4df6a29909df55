from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from deskpilot.core.clock import utcnow
from deskpilot.db.base import Base, BigId, IdMixin, TimestampMixin, WorkspaceScoped


class User(IdMixin, TimestampMixin, Base):
    """A person's identity; what they may do lives in their memberships, one per workspace.

    Not workspace-scoped on purpose: one agent can work in several workspaces. Workspace admins see
    and change users only through memberships, never the identity (email, password) itself.
    """

    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str | None] = mapped_column(String(200), default=None)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    email_verified_at: Mapped[datetime | None] = mapped_column(default=None)
    """Set when the person follows a verification link (portal sign-ups) or is added by staff."""


class Membership(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("workspace_id", "user_id"),)

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(16))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    contact_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("contacts.id", ondelete="SET NULL"), default=None
    )


class ApiToken(IdMixin, WorkspaceScoped, Base):
    __tablename__ = "api_tokens"

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(120), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    display_prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class LoginThrottle(IdMixin, Base):
    """Failed sign-ins per key (an account in a workspace, or a client address).

    Not workspace-scoped: it is read before anyone is signed in, and the key is a hash that names
    no tenant. Rows are overwritten, so the table stays as small as the set of recent offenders.
    """

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(64), unique=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(default=None)


class WebSession(IdMixin, WorkspaceScoped, Base):
    """A browser session: the signed cookie names one of these rows, and it is honoured only while
    the row is live. Signing out ends the row, a password change ends every row of the person, so
    a copied cookie stops working at once instead of when it expires."""

    __tablename__ = "web_sessions"

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    """SHA-256 of the random key in the cookie: the table alone cannot be replayed."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
