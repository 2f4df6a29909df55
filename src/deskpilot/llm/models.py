"""Per-workspace provider settings and one usage row per language-model call."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from deskpilot.core.clock import utcnow
from deskpilot.db.base import Base, BigId, IdMixin, WorkspaceScoped


class AiProviderSettings(IdMixin, WorkspaceScoped, Base):
    """Which language model a workspace answers with; no row means the offline builtin."""

    __tablename__ = "ai_provider_settings"
    __table_args__ = (UniqueConstraint("workspace_id"),)

    provider: Mapped[str] = mapped_column(String(16), default="builtin")
    model: Mapped[str] = mapped_column(String(200), default="")
    base_url: Mapped[str | None] = mapped_column(String(500), default=None)
    # Where the key lives, never the key itself, e.g. "env:ANTHROPIC_API_KEY".
    api_key_ref: Mapped[str | None] = mapped_column(String(200), default=None)
    temperature: Mapped[float] = mapped_column(Float, default=0.2)
    max_output_tokens: Mapped[int] = mapped_column(Integer, default=600)
    # Tokens (input + output) the workspace may spend per calendar month (UTC); None = no cap.
    monthly_token_budget: Mapped[int | None] = mapped_column(BigInteger, default=None)
    timeout_seconds: Mapped[float] = mapped_column(Float, default=20.0)
    max_retries: Mapped[int] = mapped_column(Integer, default=2)
    # What to do when the provider fails: "builtin" (answer extractively) or "escalate".
    fallback: Mapped[str] = mapped_column(String(16), default="builtin")
    input_price_per_mtok: Mapped[float] = mapped_column(Float, default=0.0)
    output_price_per_mtok: Mapped[float] = mapped_column(Float, default=0.0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AiUsage(IdMixin, WorkspaceScoped, Base):
    """One language-model call (or fallback): tokens, cost, latency, outcome."""

    __tablename__ = "ai_usage"
    __table_args__ = (Index("ix_ai_usage_ws_created", "workspace_id", "created_at"),)

    provider: Mapped[str] = mapped_column(String(16))
    model: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(32), default="answer")
    ticket_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("tickets.id", ondelete="SET NULL"), default=None
    )
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    # "ok", "error" (gave up), "fallback" (failed, another path answered), "over_budget".
    status: Mapped[str] = mapped_column(String(16), default="ok")
    error: Mapped[str | None] = mapped_column(String(500), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
