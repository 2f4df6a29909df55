"""Keeping the search index in step with articles: chunk, embed, store, and tell every process.

Content changes call `request_reindex` inside their transaction; the job it enqueues runs after
commit. The slow part (chunking and embedding) runs in the job's read-only prepare phase, outside
any write lock; the write phase swaps the article's chunks and bumps the workspace's index version
in one short transaction, so an article is never half-indexed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from deskpilot.ai.embeddings import default_embedder, embedder_for, models_dir, to_bytes
from deskpilot.ai.ports import Embedder, Vectors
from deskpilot.core.clock import utcnow
from deskpilot.core.context import Context
from deskpilot.jobs import queue
from deskpilot.kb.chunking import chunk_markdown, passage_text
from deskpilot.kb.models import Article, KbChunk, KbIndexState

log = logging.getLogger(__name__)
INDEX_JOB = "kb.index_article"
INDEXED_STATUSES = frozenset({"draft", "in_review", "approved", "published"})


def request_reindex(session: Session, ctx: Context, article: Article) -> None:
    """Schedule (re)indexing, or removal from the index, of one article after commit."""
    queue.enqueue(session, INDEX_JOB, workspace_id=ctx.workspace_id, article_id=article.id)


@dataclass(frozen=True)
class ChunkDraft:
    ordinal: int
    kind: str
    heading_path: str
    text: str
    words: int
    embed_text: str


@dataclass
class PreparedArticle:
    article_id: int
    content_version: int
    remove: bool
    chunks: list[ChunkDraft]
    vectors: Vectors
    model: str
    up_to_date: bool = False
    """Already indexed at this content version by this model: nothing to write."""


def chunk_article(article: Article) -> list[ChunkDraft]:
    head = article.title if not article.summary else f"{article.title}\n\n{article.summary}"
    drafts = [ChunkDraft(0, "title", "", head, len(head.split()), head)]
    for chunk in chunk_markdown(article.body or ""):
        drafts.append(
            ChunkDraft(
                ordinal=len(drafts),
                kind="passage",
                heading_path=chunk.heading_path,
                text=chunk.text,
                words=chunk.word_count,
                embed_text=passage_text(article.title, chunk.heading_path, chunk.text),
            )
        )
    return drafts


def workspace_model(session: Session, workspace_id: int) -> str:
    """The model this workspace's chunks should carry: its adapted model if present on disk."""
    state = session.get(KbIndexState, workspace_id)
    builtin = default_embedder().name
    if state is None or not state.target_model:
        return builtin
    try:
        present = (models_dir() / state.target_model).is_dir()
    except RuntimeError:
        present = False
    if not present:
        log.error("adapted model %s is missing; using %s", state.target_model, builtin)
        return builtin
    return state.target_model


def prepare_articles(
    session: Session, workspace_id: int, article_ids: list[int], embedder: Embedder | None = None
) -> list[PreparedArticle]:
    """Chunk and embed articles (read-only). Batches all their chunks into one embedding call."""
    embedder = embedder or embedder_for(workspace_model(session, workspace_id))
    articles = {
        a.id: a
        for a in session.scalars(
            select(Article).where(Article.workspace_id == workspace_id, Article.id.in_(article_ids))
        )
    }
    other_model = set(
        session.scalars(
            select(KbChunk.article_id)
            .where(
                KbChunk.workspace_id == workspace_id,
                KbChunk.article_id.in_(article_ids),
                KbChunk.embedding_model != embedder.name,
            )
            .distinct()
        )
    )
    prepared: list[PreparedArticle] = []
    texts: list[str] = []
    empty = np.zeros((0, embedder.dim), np.float32)
    for article_id in article_ids:
        article = articles.get(article_id)
        if (
            article is not None
            and article.status in INDEXED_STATUSES
            and article.indexed_version == article.content_version
            and article.id not in other_model
        ):
            prepared.append(
                PreparedArticle(
                    article.id,
                    article.content_version,
                    False,
                    [],
                    empty,
                    embedder.name,
                    up_to_date=True,
                )
            )
            continue
        if article is None or article.status not in INDEXED_STATUSES:
            prepared.append(
                PreparedArticle(
                    article_id,
                    article.content_version if article else 0,
                    True,
                    [],
                    np.zeros((0, embedder.dim), np.float32),
                    embedder.name,
                )
            )
            continue
        drafts = chunk_article(article)
        texts.extend(d.embed_text for d in drafts)
        prepared.append(
            PreparedArticle(
                article.id,
                article.content_version,
                False,
                drafts,
                np.zeros((0, embedder.dim), np.float32),
                embedder.name,
            )
        )
    vectors = embedder.embed(texts)
    offset = 0
    for item in prepared:
        item.vectors = vectors[offset : offset + len(item.chunks)]
        offset += len(item.chunks)
    return prepared


def apply_prepared(session: Session, workspace_id: int, items: list[PreparedArticle]) -> int:
    """Swap chunks for each prepared article still at the prepared version; returns how many."""
    applied = 0
    touched: list[Article] = []
    items = [item for item in items if not item.up_to_date]
    for item in items:
        article = session.scalars(
            select(Article)
            .where(Article.workspace_id == workspace_id, Article.id == item.article_id)
            .with_for_update()
        ).one_or_none()
        if article is not None and article.content_version != item.content_version:
            continue  # edited meanwhile: the job queued by that edit indexes the newer text
        session.execute(
            delete(KbChunk).where(
                KbChunk.workspace_id == workspace_id, KbChunk.article_id == item.article_id
            )
        )
        if article is None:
            applied += 1
            continue
        if not item.remove:
            for draft, blob in zip(item.chunks, to_bytes(item.vectors), strict=True):
                session.add(
                    KbChunk(
                        workspace_id=workspace_id,
                        article_id=article.id,
                        ordinal=draft.ordinal,
                        kind=draft.kind,
                        heading_path=draft.heading_path,
                        text=draft.text,
                        token_count=draft.words,
                        embedding=blob,
                        embedding_model=item.model,
                        embedding_dim=int(item.vectors.shape[1]) if len(item.vectors) else 0,
                    )
                )
        article.indexed_version = 0 if item.remove else article.content_version
        touched.append(article)
        applied += 1
    if items:
        stamp = bump_index_version(session, workspace_id, items[0].model)
        for article in touched:
            article.index_stamp = stamp
    session.flush()
    return applied


def bump_index_version(session: Session, workspace_id: int, model: str) -> int:
    """Advance the workspace's index version (creating its state row) and return it."""
    bump = (
        update(KbIndexState)
        .where(KbIndexState.workspace_id == workspace_id)
        .values(version=KbIndexState.version + 1, embedding_model=model, updated_at=utcnow())
        .returning(KbIndexState.version)
    )
    version = session.execute(bump).scalar_one_or_none()
    if version is not None:
        return int(version)
    try:
        with session.begin_nested():
            session.add(KbIndexState(workspace_id=workspace_id, version=1, embedding_model=model))
    except IntegrityError:
        return int(session.execute(bump).scalar_one())
    return 1


def stale_article_ids(session: Session, workspace_id: int, model: str) -> list[int]:
    """Articles whose index lags their content, was built by another model, or should be gone."""
    lagging = select(Article.id).where(
        Article.workspace_id == workspace_id,
        or_(
            Article.status.in_(INDEXED_STATUSES)
            & (Article.indexed_version != Article.content_version),
            Article.status.not_in(INDEXED_STATUSES) & (Article.indexed_version != 0),
        ),
    )
    other_model = (
        select(KbChunk.article_id)
        .where(KbChunk.workspace_id == workspace_id, KbChunk.embedding_model != model)
        .distinct()
    )
    ids = set(session.scalars(lagging)) | set(session.scalars(other_model))
    return sorted(ids)


def all_indexable_ids(session: Session, workspace_id: int) -> list[int]:
    return list(
        session.scalars(
            select(Article.id).where(Article.workspace_id == workspace_id).order_by(Article.id)
        )
    )
