"""An article's history: content revisions and the audit trail (read-only, staff only)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from deskpilot.core.context import Context
from deskpilot.core.errors import NotFound
from deskpilot.db.scoped import scoped
from deskpilot.kb.models import ArticleEvent, ArticleRevision
from deskpilot.kb.service import get_article


def list_revisions(session: Session, ctx: Context, article_id: int) -> list[ArticleRevision]:
    ctx.require_staff()
    article = get_article(session, ctx, article_id)
    return list(
        session.scalars(
            scoped(ctx, ArticleRevision)
            .where(ArticleRevision.article_id == article.id)
            .order_by(ArticleRevision.version)
        )
    )


def get_revision(session: Session, ctx: Context, article_id: int, version: int) -> ArticleRevision:
    ctx.require_staff()
    article = get_article(session, ctx, article_id)
    revision = session.scalars(
        scoped(ctx, ArticleRevision).where(
            ArticleRevision.article_id == article.id, ArticleRevision.version == version
        )
    ).one_or_none()
    if revision is None:
        raise NotFound(f"Article {article_id} has no revision {version}")
    return revision


def list_events(session: Session, ctx: Context, article_id: int) -> list[ArticleEvent]:
    ctx.require_staff()
    article = get_article(session, ctx, article_id)
    return list(
        session.scalars(
            scoped(ctx, ArticleEvent)
            .where(ArticleEvent.article_id == article.id)
            .order_by(ArticleEvent.id)
        )
    )
