"""Knowledge-base analytics: article counters, searches and their outcomes, content gaps.

Article views, search impressions, AI references and votes come from the KB's own daily counters
(`kb_article_daily_metrics`); searches from `kb_search_daily_stats`; content gaps reuse
`kb.search_log.content_gaps` (zero-result and low-similarity queries grouped by their words).
The team, agent and channel filters do not apply to the knowledge base.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from deskpilot.analytics.models import KbDailyStats
from deskpilot.analytics.periods import Filters
from deskpilot.analytics.tables import Table, ratio
from deskpilot.core.clock import utcnow
from deskpilot.core.context import Context
from deskpilot.kb import search_log
from deskpilot.kb.models import Article, ArticleDailyMetric

TOP_ARTICLES = 20
COUNTERS = ("views", "impressions", "ai_references", "helpful", "not_helpful")


def _article_sums(session: Session, ctx: Context, f: Filters) -> Select[Any]:
    a = ArticleDailyMetric
    return select(*(func.coalesce(func.sum(getattr(a, c)), 0) for c in COUNTERS)).where(
        a.workspace_id == ctx.workspace_id, a.day >= f.start, a.day <= f.end
    )


def kb_summary(session: Session, ctx: Context, f: Filters) -> Table:
    ctx.require_staff()
    views, impressions, refs, helpful, not_helpful = (
        int(v) for v in session.execute(_article_sums(session, ctx, f)).one()
    )
    s = KbDailyStats
    sums = session.execute(
        select(*(func.coalesce(func.sum(getattr(s, c)), 0) for c in _SEARCH_COUNTS)).where(
            s.workspace_id == ctx.workspace_id, s.day >= f.start, s.day <= f.end
        )
    ).one()
    searches, zero, low, clicked, filed, deflected = (int(v) for v in sums)
    portal = int(
        session.scalar(
            select(func.coalesce(func.sum(s.searches), 0)).where(
                s.workspace_id == ctx.workspace_id,
                s.day >= f.start,
                s.day <= f.end,
                s.source == "portal",
            )
        )
        or 0
    )
    rows: list[list[Any]] = [
        ["article_views", views],
        ["search_impressions", impressions],
        ["ai_references", refs],
        ["helpful_votes", helpful],
        ["not_helpful_votes", not_helpful],
        ["helpfulness_ratio", ratio(helpful, helpful + not_helpful)],
        ["searches", searches],
        ["zero_result_searches", zero],
        ["low_confidence_searches", low],
        ["searches_clicked", clicked],
        ["searches_followed_by_ticket", filed],
        ["deflections", deflected],
        ["deflection_rate", ratio(deflected, portal)],
    ]
    return Table("kb_summary", "Knowledge base summary", ["metric", "value"], rows)


_SEARCH_COUNTS = (
    "searches",
    "zero_results",
    "low_confidence",
    "clicked",
    "tickets_filed",
    "deflected",
)


def kb_articles(session: Session, ctx: Context, f: Filters) -> Table:
    """The most viewed articles of the range with their counters and helpfulness."""
    ctx.require_staff()
    a = ArticleDailyMetric
    sums = [func.sum(getattr(a, c)) for c in COUNTERS]
    rows = session.execute(
        select(a.article_id, Article.title, *sums)
        .join(Article, Article.id == a.article_id)
        .where(a.workspace_id == ctx.workspace_id, a.day >= f.start, a.day <= f.end)
        .where(Article.workspace_id == ctx.workspace_id)
        .group_by(a.article_id, Article.title)
        .order_by(sums[0].desc(), a.article_id)
        .limit(TOP_ARTICLES)
    ).all()
    out: list[list[Any]] = []
    for article_id, title, views, impressions, refs, helpful, not_helpful in rows:
        helpful, not_helpful = int(helpful or 0), int(not_helpful or 0)
        out.append(
            [
                article_id,
                title,
                int(views or 0),
                int(impressions or 0),
                int(refs or 0),
                helpful,
                not_helpful,
                ratio(helpful, helpful + not_helpful),
            ]
        )
    return Table(
        "kb_articles",
        "Top articles",
        ["article_id", "title", "views", "impressions", "ai_references", "helpful",
         "not_helpful", "helpfulness"],
        list(out),
    )  # fmt: skip


def kb_searches(session: Session, ctx: Context, f: Filters) -> Table:
    """Searches per day (all sources) with their outcomes."""
    ctx.require_staff()
    s = KbDailyStats
    stmt = (
        select(s.day, *(func.sum(getattr(s, c)) for c in _SEARCH_COUNTS))
        .where(s.workspace_id == ctx.workspace_id, s.day >= f.start, s.day <= f.end)
        .group_by(s.day)
    )
    by_day = {r[0]: [int(v or 0) for v in r[1:]] for r in session.execute(stmt)}
    rows = [[d, *by_day.get(d, [0] * len(_SEARCH_COUNTS))] for d in f.days]
    return Table("kb_searches", "Searches per day", ["day", *_SEARCH_COUNTS], rows)


def content_gaps(session: Session, ctx: Context, f: Filters) -> Table:
    """Queries that found nothing or nothing close, clustered by their words, over the days from
    the range's start until now (the search log's own window)."""
    ctx.require_staff()
    days = max(1, (utcnow().date() - f.start).days + 1)
    gaps = search_log.content_gaps(session, ctx, days=days, limit=50)
    end = f.end + timedelta(days=1)
    rows = [
        [g.query, g.searches, g.zero_results, g.low_score, g.last_seen]
        for g in gaps
        if g.last_seen.date() < end
    ]
    return Table(
        "content_gaps",
        "Content gaps",
        ["query", "searches", "zero_results", "low_confidence", "last_seen"],
        rows,
    )
