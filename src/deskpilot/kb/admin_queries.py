"""Read models for the knowledge-base admin pages: paged lists with counts, category sizes, stats.

The admin list is ordered by last change (what an editor looks for) and paged by number, with a
total, unlike the API's id-ordered keyset pages. Everything here is staff-only and reads through
`scoped`, so another workspace's rows never appear.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from deskpilot.auth import service as auth_service
from deskpilot.core.clock import utcnow
from deskpilot.core.context import Context
from deskpilot.core.errors import NotFound
from deskpilot.core.ids import is_digits
from deskpilot.db.scoped import scoped
from deskpilot.kb.content import ArticleStatus
from deskpilot.kb.models import Article, ArticleDailyMetric, KbCategory
from deskpilot.kb.service import ArticleFilters, get_article

MAX_PER_PAGE = 100
RECENT_DAYS = 30


@dataclass(frozen=True)
class ArticlePage:
    items: list[Article]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


def _filtered(
    ctx: Context, filters: ArticleFilters, *, with_status: bool = True
) -> Select[Article]:
    stmt = scoped(ctx, Article)
    if with_status and filters.status:
        stmt = stmt.where(Article.status.in_([s.value for s in filters.status]))
    if filters.visibility is not None:
        stmt = stmt.where(Article.visibility == filters.visibility.value)
    if filters.category_id is not None:
        stmt = stmt.where(Article.category_id == filters.category_id)
    if filters.q:
        stmt = stmt.where(Article.title.icontains(filters.q, autoescape=True))
    return stmt


def list_articles_paged(
    session: Session, ctx: Context, filters: ArticleFilters, *, page: int = 1, per_page: int = 25
) -> ArticlePage:
    """One page of articles, most recently changed first, and how many match in total."""
    ctx.require_staff()
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    stmt = _filtered(ctx, filters)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    last_page = max(1, math.ceil(total / per_page))
    page = max(1, min(page, last_page))
    rows = session.scalars(
        stmt.order_by(Article.updated_at.desc(), Article.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return ArticlePage(list(rows), total, page, per_page)


def status_counts(session: Session, ctx: Context, filters: ArticleFilters) -> dict[str, int]:
    """Articles per status under the other filters (so each status tab shows what it would list)."""
    ctx.require_staff()
    inner = _filtered(ctx, filters, with_status=False).subquery()
    counts = dict.fromkeys((s.value for s in ArticleStatus), 0)
    for status, count in session.execute(
        select(inner.c.status, func.count()).group_by(inner.c.status)
    ):
        counts[str(status)] = int(count)
    return counts


def category_article_counts(session: Session, ctx: Context) -> dict[int | None, int]:
    """Articles per category id (None: uncategorized)."""
    ctx.require_staff()
    rows = session.execute(
        select(Article.category_id, func.count())
        .where(Article.workspace_id == ctx.workspace_id)
        .group_by(Article.category_id)
    )
    return {category_id: int(count) for category_id, count in rows}


@dataclass(frozen=True)
class ArticleStats:
    views: int
    helpful: int
    not_helpful: int
    helpfulness: float | None
    recent_days: int
    recent_views: int
    recent_impressions: int
    recent_ai_references: int


def article_stats(session: Session, ctx: Context, article_id: int) -> ArticleStats:
    """Lifetime counters from the article and the last RECENT_DAYS days of daily metrics."""
    ctx.require_staff()
    article = get_article(session, ctx, article_id)
    since = utcnow().date() - timedelta(days=RECENT_DAYS - 1)
    totals = session.execute(
        select(
            func.coalesce(func.sum(ArticleDailyMetric.views), 0),
            func.coalesce(func.sum(ArticleDailyMetric.impressions), 0),
            func.coalesce(func.sum(ArticleDailyMetric.ai_references), 0),
        ).where(
            ArticleDailyMetric.workspace_id == ctx.workspace_id,
            ArticleDailyMetric.article_id == article.id,
            ArticleDailyMetric.day >= since,
        )
    ).one()
    return ArticleStats(
        views=article.view_count,
        helpful=article.helpful_count,
        not_helpful=article.not_helpful_count,
        helpfulness=article.helpfulness,
        recent_days=RECENT_DAYS,
        recent_views=int(totals[0]),
        recent_impressions=int(totals[1]),
        recent_ai_references=int(totals[2]),
    )


_REF_SPLIT = re.compile(r"[\s,]+")


def resolve_article_refs(session: Session, ctx: Context, text: str) -> tuple[list[int], list[str]]:
    """Article ids for a list of ids or slugs ("12, reset-password"), in the order given, and the
    references that match no article of the workspace."""
    ctx.require_staff()
    refs = [r for r in _REF_SPLIT.split(text.strip()) if r]
    ids = {int(r) for r in refs if is_digits(r) and len(r) < 19}
    slugs = {r.lower() for r in refs if not is_digits(r)}
    found_ids: set[int] = set()
    by_slug: dict[str, int] = {}
    if ids:
        found_ids = set(
            session.scalars(
                select(Article.id).where(
                    Article.workspace_id == ctx.workspace_id, Article.id.in_(ids)
                )
            )
        )
    if slugs:
        by_slug = {
            slug: article_id
            for article_id, slug in session.execute(
                select(Article.id, Article.slug).where(
                    Article.workspace_id == ctx.workspace_id, Article.slug.in_(slugs)
                )
            )
        }
    resolved: list[int] = []
    unknown: list[str] = []
    for ref in refs:
        if is_digits(ref) and len(ref) < 19 and int(ref) in found_ids:
            resolved.append(int(ref))
        elif ref.lower() in by_slug:
            resolved.append(by_slug[ref.lower()])
        else:
            unknown.append(ref)
    return list(dict.fromkeys(resolved)), unknown


def category_names(session: Session, ctx: Context) -> dict[int, str]:
    ctx.require_staff()
    return dict(
        session.execute(
            select(KbCategory.id, KbCategory.name).where(
                KbCategory.workspace_id == ctx.workspace_id
            )
        ).tuples()
    )


def people_names(session: Session, ctx: Context, user_ids: set[int | None]) -> dict[int, str]:
    """Display names for the authors and editors shown on a page (a handful of ids)."""
    ctx.require_staff()
    names: dict[int, str] = {}
    for user_id in sorted(i for i in user_ids if i is not None):
        try:
            member = auth_service.get_member(session, ctx, user_id)
        except NotFound:
            names[user_id] = "Former member"
            continue
        names[user_id] = member.name or member.email
    return names
