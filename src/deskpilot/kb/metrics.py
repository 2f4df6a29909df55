"""Per-article daily counters (views, search impressions, AI references, votes)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from deskpilot.core.clock import utcnow
from deskpilot.kb.models import ArticleDailyMetric

COUNTERS = frozenset({"views", "impressions", "ai_references", "helpful", "not_helpful"})


def bump(
    session: Session,
    workspace_id: int,
    article_ids: Iterable[int],
    counter: str,
    *,
    by: int = 1,
    day: date | None = None,
) -> None:
    """Add `by` to one counter of today's row for each article, creating rows as needed."""
    if counter not in COUNTERS:
        raise ValueError(f"unknown KB counter {counter!r}")
    day = day or utcnow().date()
    column = getattr(ArticleDailyMetric, counter)
    for article_id in sorted(set(article_ids)):
        updated = session.execute(
            update(ArticleDailyMetric)
            .where(
                ArticleDailyMetric.workspace_id == workspace_id,
                ArticleDailyMetric.article_id == article_id,
                ArticleDailyMetric.day == day,
            )
            .values({column: column + by})
        )
        if getattr(updated, "rowcount", 0):
            continue
        row = ArticleDailyMetric(
            workspace_id=workspace_id,
            article_id=article_id,
            day=day,
            views=0,
            impressions=0,
            ai_references=0,
            helpful=0,
            not_helpful=0,
        )
        setattr(row, counter, by)
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            # Another transaction created today's row first; add to it instead.
            session.execute(
                update(ArticleDailyMetric)
                .where(
                    ArticleDailyMetric.workspace_id == workspace_id,
                    ArticleDailyMetric.article_id == article_id,
                    ArticleDailyMetric.day == day,
                )
                .values({column: column + by})
            )
