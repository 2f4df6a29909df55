"""Search analytics: every search is logged; clicks, filed tickets and content gaps come from it."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from deskpilot.core.clock import utcnow
from deskpilot.core.context import Context
from deskpilot.db.scoped import get_scoped, scoped
from deskpilot.kb import metrics
from deskpilot.kb.lexical import tokenize
from deskpilot.kb.models import SearchLog
from deskpilot.kb.search import SearchResult

LOW_DENSE = 0.35
"""Below this best-passage cosine a search found nothing really about the question."""
ROLLUP_BATCH = 5000


def log_search(session: Session, ctx: Context, result: SearchResult, *, source: str) -> SearchLog:
    top = result.hits[0] if result.hits else None
    row = SearchLog(
        workspace_id=ctx.workspace_id,
        query=result.query[:1000],
        source=source,
        results_count=len(result.hits),
        top_article_id=top.article_id if top else None,
        top_score=top.score if top else None,
        top_dense=top.dense if top else None,
        result_article_ids=[hit.article_id for hit in result.hits],
        user_id=ctx.user_id,
        rolled_up=False,
    )
    session.add(row)
    session.flush()
    return row


def record_click(session: Session, ctx: Context, search_id: int, article_id: int) -> SearchLog:
    row = get_scoped(session, ctx, SearchLog, search_id, what="Search")
    row.clicked_article_id = article_id
    return row


def link_ticket(session: Session, ctx: Context, search_id: int, ticket_id: int) -> SearchLog:
    """The searcher filed a ticket after this search: the KB did not deflect it."""
    row = get_scoped(session, ctx, SearchLog, search_id, what="Search")
    row.ticket_id = ticket_id
    return row


@dataclass(frozen=True)
class ContentGap:
    query: str
    searches: int
    zero_results: int
    low_score: int
    last_seen: datetime


def content_gaps(
    session: Session, ctx: Context, *, days: int = 30, limit: int = 50
) -> list[ContentGap]:
    """Queries that found nothing, or nothing close, grouped by their significant words."""
    ctx.require_staff()
    since = utcnow() - timedelta(days=days)
    rows = session.scalars(
        scoped(ctx, SearchLog).where(
            SearchLog.created_at >= since,
            or_(SearchLog.results_count == 0, SearchLog.top_dense < LOW_DENSE),
        )
    )
    groups: dict[tuple[str, ...], list[SearchLog]] = defaultdict(list)
    for row in rows:
        key = tuple(sorted({t for t in tokenize(row.query) if " " not in t})) or (
            row.query.lower(),
        )
        groups[key].append(row)
    gaps = []
    for members in groups.values():
        phrasing = Counter(m.query for m in members).most_common(1)[0][0]
        gaps.append(
            ContentGap(
                query=phrasing,
                searches=len(members),
                zero_results=sum(1 for m in members if m.results_count == 0),
                low_score=sum(
                    1 for m in members if m.results_count and (m.top_dense or 0) < LOW_DENSE
                ),
                last_seen=max(m.created_at for m in members),
            )
        )
    gaps.sort(key=lambda g: (-g.searches, g.query))
    return gaps[:limit]


def roll_up_impressions(session: Session) -> int:
    """Fold logged result lists into per-article daily impression counters (all workspaces)."""
    rows = list(
        session.scalars(
            select(SearchLog)
            .where(SearchLog.rolled_up.is_(False))
            .order_by(SearchLog.id)
            .limit(ROLLUP_BATCH)
        )
    )
    counts: Counter[tuple[int, date, int]] = Counter()
    for row in rows:
        for article_id in row.result_article_ids or []:
            counts[(row.workspace_id, row.created_at.date(), article_id)] += 1
        row.rolled_up = True
    by_key: dict[tuple[int, date], dict[int, int]] = defaultdict(dict)
    for (workspace_id, day, article_id), n in counts.items():
        by_key[(workspace_id, day)][article_id] = n
    for (workspace_id, day), per_article in by_key.items():
        for article_id, n in per_article.items():
            metrics.bump(session, workspace_id, [article_id], "impressions", by=n, day=day)
    return len(rows)
