"""Per-article daily counters (views, search impressions, AI references, votes)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy.orm import Session

from deskpilot.core.clock import utcnow
from deskpilot.db.upsert import insert_for
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
    """Add `by` to one counter of today's row for each article: one upsert each, safe when
    several transactions count the same article on the same day."""
    if counter not in COUNTERS:
        raise ValueError(f"unknown KB counter {counter!r}")
    day = day or utcnow().date()
    column = getattr(ArticleDailyMetric, counter)
    for article_id in sorted(set(article_ids)):
        values = dict.fromkeys(COUNTERS, 0) | {counter: by}
        stmt = insert_for(session, ArticleDailyMetric).values(
            workspace_id=workspace_id, article_id=article_id, day=day, **values
        )
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=["article_id", "day"], set_={counter: column + by}
            )
        )
