"""KB test helpers: article builders and index-request counts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from deskpilot.core.context import Context
from deskpilot.jobs.models import Job
from deskpilot.kb import service
from deskpilot.kb.content import ArticleStatus
from deskpilot.kb.indexing import INDEX_JOB
from deskpilot.kb.models import Article
from deskpilot.kb.schemas import ArticleCreate

PUBLISH_PATH = [ArticleStatus.in_review, ArticleStatus.approved, ArticleStatus.published]


def make_article(session: Session, ctx: Context, **overrides: Any) -> Article:
    data: dict[str, Any] = {"title": "Reset your password", "body": "Open **Settings**."}
    data.update(overrides)
    article, _ = service.create_article(session, ctx, ArticleCreate.model_validate(data))
    return article


def move_to(session: Session, admin: Context, article: Article, status: ArticleStatus) -> None:
    """Walk an article from draft to `status` along legal moves (as an admin)."""
    path = {
        ArticleStatus.draft: [],
        ArticleStatus.in_review: PUBLISH_PATH[:1],
        ArticleStatus.approved: PUBLISH_PATH[:2],
        ArticleStatus.published: PUBLISH_PATH,
        ArticleStatus.archived: [*PUBLISH_PATH, ArticleStatus.archived],
    }[status]
    for step in path:
        service.transition_article(session, admin, article.id, step)


def index_requests(session: Session, article_id: int) -> int:
    """How many index jobs were queued for one article (committed or not)."""
    jobs = session.scalars(select(Job).where(Job.name == INDEX_JOB)).all()
    return sum(1 for job in jobs if job.args.get("article_id") == article_id)
