"""Background work for the knowledge base: index articles, repair stale indexes."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from deskpilot.db.engine import Database
from deskpilot.jobs import queue
from deskpilot.jobs.models import Job
from deskpilot.jobs.registry import job, periodic
from deskpilot.kb.adapt import needs_adaptation, switch_workspace_model, train_workspace_model
from deskpilot.kb.indexing import (
    INDEX_JOB,
    PreparedArticle,
    all_indexable_ids,
    apply_prepared,
    prepare_articles,
    stale_article_ids,
    workspace_model,
)
from deskpilot.kb.search_log import roll_up_impressions
from deskpilot.workspaces.models import Workspace

log = logging.getLogger(__name__)
BATCH = 32


def _prepare_one(session: Session, *, workspace_id: int, article_id: int) -> dict[str, Any]:
    return {"items": prepare_articles(session, workspace_id, [article_id])}


@job(INDEX_JOB, prepare=_prepare_one)
def index_article(
    session: Session, *, prepared: dict[str, Any], workspace_id: int, article_id: int
) -> None:
    items: list[PreparedArticle] = prepared["items"]
    apply_prepared(session, workspace_id, items)


ADAPT_JOB = "kb.adapt_embedder"


def _train(session: Session, *, workspace_id: int) -> dict[str, Any]:
    return {"model": train_workspace_model(session, workspace_id)}


@job(ADAPT_JOB, prepare=_train, max_attempts=2)
def adapt_embedder(session: Session, *, prepared: dict[str, Any], workspace_id: int) -> None:
    """Train (in prepare, outside the write lock), then switch and queue re-embedding."""
    if prepared["model"] is None:
        return
    switch_workspace_model(session, workspace_id, prepared["model"])
    for article_id in all_indexable_ids(session, workspace_id):
        queue.enqueue(session, INDEX_JOB, workspace_id=workspace_id, article_id=article_id)


@periodic("kb.adapt_workspaces", every_minutes=60)
def adapt_workspaces(session: Session) -> None:
    """Queue adaptation for workspaces whose KB is new or changed enough (opt out per workspace)."""
    for workspace in session.scalars(select(Workspace)):
        if not (workspace.settings or {}).get("kb_auto_adapt", True):
            continue
        already_queued = session.scalar(
            select(Job.id)
            .where(Job.workspace_id == workspace.id, Job.name == ADAPT_JOB, Job.status == "pending")
            .limit(1)
        )
        if already_queued is None and needs_adaptation(session, workspace.id):
            queue.enqueue(session, ADAPT_JOB, workspace_id=workspace.id)


@periodic("kb.reindex_stale", every_minutes=5)
def reindex_stale(session: Session) -> None:
    """Queue an index job for every article whose index is missing, outdated or from another model."""
    for workspace_id in session.scalars(select(Workspace.id)):
        model = workspace_model(session, workspace_id)
        for article_id in stale_article_ids(session, workspace_id, model):
            queue.enqueue(session, INDEX_JOB, workspace_id=workspace_id, article_id=article_id)


def reindex_workspace(db: Database, workspace_id: int, *, only_stale: bool = False) -> int:
    """Index a workspace's articles now, in batches (CLI `kb reindex`, imports, evals)."""
    with db.session(write=False) as session:
        model = workspace_model(session, workspace_id)
        ids = (
            stale_article_ids(session, workspace_id, model)
            if only_stale
            else all_indexable_ids(session, workspace_id)
        )
    done = 0
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        with db.session(write=False) as session:
            items = prepare_articles(session, workspace_id, batch)
        with db.session(write=True) as session:
            done += apply_prepared(session, workspace_id, items)
            session.commit()
    return done


@periodic("kb.roll_up_impressions", every_minutes=1)
def roll_up_search_impressions(session: Session) -> None:
    roll_up_impressions(session)
