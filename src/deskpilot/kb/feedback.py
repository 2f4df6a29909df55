"""Reader feedback on KB articles: help-center views and helpful / not-helpful votes.

Views are counted by an explicit `record_view` call (the API's POST .../view), never inside a GET,
which runs on a read-only session; staff reads are not counted. Each voter has one vote per article,
keyed `user:<id>` for signed-in readers and `anon:<key>` for anonymous help-center visitors, whose
key comes from a random cookie the web UI sets.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from deskpilot.core.context import Context
from deskpilot.core.errors import ValidationFailed
from deskpilot.db.scoped import scoped
from deskpilot.kb import metrics
from deskpilot.kb.models import Article, ArticleVote
from deskpilot.kb.service import get_article

ANONYMOUS_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{16,100}$")


def record_view(session: Session, ctx: Context, article_id: int) -> bool:
    """Count a help-center read (customers and anonymous visitors); staff reads are not counted."""
    article = get_article(session, ctx, article_id)
    if ctx.is_staff:
        return False
    _bump_counters(session, article, view_count=1)
    metrics.bump(session, ctx.workspace_id, [article.id], "views")
    return True


def voter_key_for(ctx: Context, anonymous_key: str | None = None) -> str:
    """Signed-in readers vote as themselves; anonymous visitors by a random key from their cookie."""
    if ctx.user_id is not None:
        return f"user:{ctx.user_id}"
    if anonymous_key is None or not ANONYMOUS_KEY_RE.match(anonymous_key):
        raise ValidationFailed(
            "Anonymous votes need a visitor key",
            details=[{"field": "voter_key", "message": "16 to 100 URL-safe characters"}],
        )
    return f"anon:{anonymous_key}"


def vote(
    session: Session,
    ctx: Context,
    article_id: int,
    helpful: bool,
    *,
    anonymous_key: str | None = None,
) -> Article:
    """One vote per voter: a new vote counts, a changed vote moves, the same vote is a no-op."""
    article = get_article(session, ctx, article_id)
    key = voter_key_for(ctx, anonymous_key)
    existing = _find_vote(session, ctx, article.id, key)
    if existing is None:
        row = ArticleVote(
            workspace_id=ctx.workspace_id, article_id=article.id, voter_key=key, helpful=helpful
        )
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            # The same voter's concurrent request won; treat this one as a change of that vote.
            existing = _find_vote(session, ctx, article.id, key)
            if existing is None:  # pragma: no cover - the violation implies the row exists
                raise
        else:
            _count_vote(session, ctx, article, helpful, +1)
            return article
    if existing.helpful == helpful:
        return article
    _count_vote(session, ctx, article, existing.helpful, -1, bump_metric=False)
    existing.helpful = helpful
    _count_vote(session, ctx, article, helpful, +1)
    session.flush()
    return article


def _find_vote(session: Session, ctx: Context, article_id: int, key: str) -> ArticleVote | None:
    return session.scalars(
        scoped(ctx, ArticleVote)
        .where(ArticleVote.article_id == article_id, ArticleVote.voter_key == key)
        .with_for_update()
    ).one_or_none()


def _count_vote(
    session: Session,
    ctx: Context,
    article: Article,
    helpful: bool,
    by: int,
    *,
    bump_metric: bool = True,
) -> None:
    """Article counters hold current totals; daily metrics count votes cast (changes included)."""
    column = "helpful_count" if helpful else "not_helpful_count"
    _bump_counters(session, article, **{column: by})
    if bump_metric:
        metrics.bump(
            session, ctx.workspace_id, [article.id], "helpful" if helpful else "not_helpful"
        )


def _bump_counters(session: Session, article: Article, **deltas: int) -> None:
    """Add to counters in one statement so concurrent readers never lose an update.

    updated_at keeps its value: a vote or a view is not an edit of the article.
    """
    values: dict[Any, Any] = {
        getattr(Article, k): getattr(Article, k) + v for k, v in deltas.items()
    }
    values[Article.updated_at] = Article.updated_at
    session.execute(
        update(Article)
        .where(Article.workspace_id == article.workspace_id, Article.id == article.id)
        .values(values)
        .execution_options(synchronize_session=False)
    )
    session.refresh(article, [*deltas])
