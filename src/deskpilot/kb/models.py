from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from deskpilot.core.clock import utcnow
from deskpilot.db.base import Base, BigId, IdMixin, JsonValue, TimestampMixin, WorkspaceScoped


class KbCategory(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    __tablename__ = "kb_categories"
    __table_args__ = (UniqueConstraint("workspace_id", "slug"),)

    parent_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("kb_categories.id", ondelete="SET NULL"), default=None
    )
    slug: Mapped[str] = mapped_column(String(120))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    icon: Mapped[str | None] = mapped_column(String(64), default=None)
    position: Mapped[int] = mapped_column(Integer, default=0)
    visibility: Mapped[str] = mapped_column(String(16), default="external")


class Article(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    __tablename__ = "kb_articles"
    __table_args__ = (
        UniqueConstraint("workspace_id", "slug"),
        UniqueConstraint("workspace_id", "external_id"),
        Index("ix_kb_articles_ws_status", "workspace_id", "status"),
    )

    external_id: Mapped[str | None] = mapped_column(String(200), default=None)
    slug: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]] = mapped_column(JsonValue, default=list)
    category_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("kb_categories.id", ondelete="SET NULL"), default=None, index=True
    )
    author_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    visibility: Mapped[str] = mapped_column(String(16), default="external")
    is_beta: Mapped[bool] = mapped_column(Boolean, default=False)
    source_type: Mapped[str] = mapped_column(String(24), default="manual")
    source_ticket_ids: Mapped[list[int]] = mapped_column(JsonValue, default=list)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    published_at: Mapped[datetime | None] = mapped_column(default=None)
    view_count: Mapped[int] = mapped_column(Integer, default=0)
    helpful_count: Mapped[int] = mapped_column(Integer, default=0)
    not_helpful_count: Mapped[int] = mapped_column(Integer, default=0)
    # Bumped on every change to indexed content (title, summary, body, tags, status, visibility);
    # the index is current when indexed_version equals it.
    content_version: Mapped[int] = mapped_column(Integer, default=1)
    indexed_version: Mapped[int] = mapped_column(Integer, default=0)
    index_stamp: Mapped[int] = mapped_column(Integer, default=0)
    """The workspace index version at which this article's chunks were last written; every
    process reloads an article whose stamp differs from the copy it holds."""

    @property
    def helpfulness(self) -> float | None:
        votes = self.helpful_count + self.not_helpful_count
        return None if votes == 0 else self.helpful_count / votes


class ArticleRevision(IdMixin, WorkspaceScoped, Base):
    """A snapshot of an article's content each time it changes; kept forever, diff-able."""

    __tablename__ = "kb_article_revisions"
    __table_args__ = (UniqueConstraint("article_id", "version"),)

    article_id: Mapped[int] = mapped_column(BigId, ForeignKey("kb_articles.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    actor_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ArticleEvent(IdMixin, WorkspaceScoped, Base):
    """Immutable audit trail of an article: created, edited, each lifecycle transition, votes off."""

    __tablename__ = "kb_article_events"
    __table_args__ = (Index("ix_kb_article_events_article", "article_id", "id"),)

    article_id: Mapped[int] = mapped_column(BigId, ForeignKey("kb_articles.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    old_value: Mapped[Any] = mapped_column(JsonValue, default=None, nullable=True)
    new_value: Mapped[Any] = mapped_column(JsonValue, default=None, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ArticleVote(IdMixin, WorkspaceScoped, Base):
    __tablename__ = "kb_article_votes"
    __table_args__ = (UniqueConstraint("article_id", "voter_key"),)

    article_id: Mapped[int] = mapped_column(BigId, ForeignKey("kb_articles.id", ondelete="CASCADE"))
    voter_key: Mapped[str] = mapped_column(String(120))
    helpful: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ArticleRelation(IdMixin, WorkspaceScoped, Base):
    __tablename__ = "kb_article_relations"
    __table_args__ = (UniqueConstraint("article_id", "related_article_id"),)

    article_id: Mapped[int] = mapped_column(BigId, ForeignKey("kb_articles.id", ondelete="CASCADE"))
    related_article_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("kb_articles.id", ondelete="CASCADE"), index=True
    )


class KbChunk(IdMixin, WorkspaceScoped, Base):
    """One searchable passage of an article, with its embedding (float32 bytes)."""

    __tablename__ = "kb_chunks"
    __table_args__ = (Index("ix_kb_chunks_article", "article_id", "ordinal"),)

    article_id: Mapped[int] = mapped_column(BigId, ForeignKey("kb_articles.id", ondelete="CASCADE"))
    ordinal: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16), default="passage")
    heading_path: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text)
    token_count: Mapped[int] = mapped_column(Integer, default=0)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    embedding_model: Mapped[str] = mapped_column(String(200))
    embedding_dim: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class KbIndexState(WorkspaceScoped, Base):
    """Per workspace: bumped whenever indexed chunks change, so every process knows to refresh."""

    __tablename__ = "kb_index_state"

    workspace_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, default=0)
    embedding_model: Mapped[str] = mapped_column(String(200), default="")
    """The model of the most recently written chunks."""
    target_model: Mapped[str] = mapped_column(String(200), default="")
    """The model chunks should be embedded with: empty for the built-in one, else an adapted
    model under DATA_DIR/models; chunks of any other model are re-embedded by the sweep."""
    adapted_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SearchLog(IdMixin, WorkspaceScoped, Base):
    __tablename__ = "kb_search_log"
    __table_args__ = (Index("ix_kb_search_log_ws_created", "workspace_id", "created_at"),)

    query: Mapped[str] = mapped_column(String(1000))
    source: Mapped[str] = mapped_column(String(16))
    results_count: Mapped[int] = mapped_column(Integer)
    top_article_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("kb_articles.id", ondelete="SET NULL"), default=None
    )
    top_score: Mapped[float | None] = mapped_column(Float, default=None)
    top_dense: Mapped[float | None] = mapped_column(Float, default=None)
    """Cosine similarity of the best passage: low values mark content gaps."""
    result_article_ids: Mapped[list[int]] = mapped_column(JsonValue, default=list)
    rolled_up: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    clicked_article_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("kb_articles.id", ondelete="SET NULL"), default=None
    )
    ticket_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("tickets.id", ondelete="SET NULL"), default=None
    )
    user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ArticleDailyMetric(WorkspaceScoped, Base):
    __tablename__ = "kb_article_daily_metrics"
    __table_args__ = (Index("ix_kb_article_daily_ws_day", "workspace_id", "day"),)

    article_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("kb_articles.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    views: Mapped[int] = mapped_column(Integer, default=0)
    impressions: Mapped[int] = mapped_column(Integer, default=0)
    ai_references: Mapped[int] = mapped_column(Integer, default=0)
    helpful: Mapped[int] = mapped_column(Integer, default=0)
    not_helpful: Mapped[int] = mapped_column(Integer, default=0)
