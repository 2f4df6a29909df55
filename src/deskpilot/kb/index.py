"""The in-memory search index of one workspace, rebuilt from the database whenever it is stale.

The database is the source of truth (chunks with their embeddings); each process keeps a copy per
workspace and compares its version with `kb_index_state.version` before every search, reloading
only the articles whose indexed version changed. Nothing here can see another workspace's chunks:
an index is built from rows filtered by one workspace_id and cached under that id.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse
from sqlalchemy import select
from sqlalchemy.orm import Session

from deskpilot.ai.embeddings import from_bytes
from deskpilot.kb.lexical import TermCounts, bm25_matrix, tokenize
from deskpilot.kb.models import Article, KbChunk, KbIndexState

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


@dataclass
class ArticleEntry:
    article_id: int
    stamp: int
    """Article.index_stamp when loaded."""
    title: str
    slug: str
    external_id: str | None
    status: str
    visibility: str
    category_id: int | None
    tags: frozenset[str]
    chunk_ids: list[int]
    kinds: list[str]
    heading_paths: list[str]
    texts: list[str]
    models: list[str]
    vectors: FloatArray
    terms: tuple[IntArray, FloatArray]
    """Article-level term counts: title twice, then summary and body (BM25 document)."""


@dataclass
class IndexArrays:
    """Columnar view over all entries, chunks grouped by article (for reduceat)."""

    entries: list[ArticleEntry] = field(default_factory=list)
    vectors: FloatArray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    chunk_article: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    chunk_is_title: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, bool))
    models: list[str] = field(default_factory=list)
    chunk_model: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    """Index into `models` per chunk: while re-embedding runs, a query is embedded once per model."""
    article_starts: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    bm25: sparse.csc_matrix = field(default_factory=lambda: sparse.csc_matrix((0, 1)))
    """Articles x terms BM25 weights (rows in `entries` order)."""
    eligibility: dict[Any, npt.NDArray[np.bool_]] = field(default_factory=dict)
    """Filter -> article mask, filled by search as filters are used."""


class WorkspaceIndex:
    def __init__(self, workspace_id: int) -> None:
        self.workspace_id = workspace_id
        self.version = -1
        self.model = ""
        self.entries: dict[int, ArticleEntry] = {}
        self.terms = TermCounts()
        self.arrays = IndexArrays()
        self.lock = threading.Lock()

    def refresh(self, session: Session) -> None:
        """Bring this copy up to the database's version; cheap when nothing changed."""
        state = session.get(KbIndexState, self.workspace_id)
        version = state.version if state else 0
        if version == self.version:
            return
        with self.lock:
            if version == self.version:
                return
            self._reload_changed(session)
            self.version = version
            self.model = state.embedding_model if state else ""

    def _reload_changed(self, session: Session) -> None:
        current = {
            row.id: row
            for row in session.execute(
                select(
                    Article.id,
                    Article.index_stamp,
                    Article.title,
                    Article.slug,
                    Article.external_id,
                    Article.status,
                    Article.visibility,
                    Article.category_id,
                    Article.tags,
                ).where(Article.workspace_id == self.workspace_id, Article.indexed_version > 0)
            )
        }
        stamps = {aid: row.index_stamp for aid, row in current.items()}
        for gone in set(self.entries) - set(current):
            del self.entries[gone]
        stale = [
            aid
            for aid in current
            if aid not in self.entries or self.entries[aid].stamp != stamps[aid]
        ]
        metadata_only = [aid for aid in current if aid not in stale]
        for aid in metadata_only:
            self._update_metadata(self.entries[aid], current[aid])
        for start in range(0, len(stale), 500):
            batch = stale[start : start + 500]
            self._load_chunks(session, batch, current, stamps)
        self.arrays = self._build_arrays()

    @staticmethod
    def _update_metadata(entry: ArticleEntry, row: Any) -> None:
        entry.title = row.title
        entry.slug = row.slug
        entry.external_id = row.external_id
        entry.status = row.status
        entry.visibility = row.visibility
        entry.category_id = row.category_id
        entry.tags = frozenset(row.tags or [])

    def _load_chunks(
        self,
        session: Session,
        article_ids: list[int],
        current: dict[int, Any],
        stamps: dict[int, int],
    ) -> None:
        rows = session.execute(
            select(
                KbChunk.id,
                KbChunk.article_id,
                KbChunk.kind,
                KbChunk.heading_path,
                KbChunk.text,
                KbChunk.embedding,
                KbChunk.embedding_dim,
                KbChunk.embedding_model,
            )
            .where(KbChunk.workspace_id == self.workspace_id, KbChunk.article_id.in_(article_ids))
            .order_by(KbChunk.article_id, KbChunk.ordinal)
        ).all()
        by_article: dict[int, list[Any]] = {aid: [] for aid in article_ids}
        for row in rows:
            by_article[row.article_id].append(row)
        for aid, chunks in by_article.items():
            meta = current[aid]
            if not chunks:
                self.entries.pop(aid, None)
                continue
            title = meta.title
            entry = ArticleEntry(
                article_id=aid,
                stamp=stamps[aid],
                title=title,
                slug="",
                external_id=None,
                status="",
                visibility="",
                category_id=None,
                tags=frozenset(),
                chunk_ids=[c.id for c in chunks],
                kinds=[c.kind for c in chunks],
                heading_paths=[c.heading_path for c in chunks],
                texts=[c.text for c in chunks],
                models=[c.embedding_model for c in chunks],
                vectors=np.vstack([from_bytes(c.embedding, c.embedding_dim) for c in chunks]),
                terms=self.terms.encode(
                    tokenize(title) + [t for c in chunks for t in tokenize(c.text)]
                ),
            )
            self._update_metadata(entry, meta)
            self.entries[aid] = entry

    def _build_arrays(self) -> IndexArrays:
        entries = sorted(self.entries.values(), key=lambda e: e.article_id)
        if not entries:
            return IndexArrays()
        sizes = np.array([len(e.chunk_ids) for e in entries], dtype=np.int64)
        starts = np.zeros(len(entries), dtype=np.int64)
        starts[1:] = np.cumsum(sizes)[:-1]
        models = sorted({m for e in entries for m in e.models})
        model_index = {m: i for i, m in enumerate(models)}
        return IndexArrays(
            models=models,
            chunk_model=np.array(
                [model_index[m] for e in entries for m in e.models], dtype=np.int64
            ),
            entries=entries,
            vectors=np.ascontiguousarray(np.vstack([e.vectors for e in entries]), dtype=np.float32),
            chunk_article=np.repeat(np.arange(len(entries)), sizes),
            chunk_is_title=np.array([k == "title" for e in entries for k in e.kinds], dtype=bool),
            article_starts=starts,
            # Column-major: a query reads a few term columns across every article.
            bm25=bm25_matrix([e.terms for e in entries], len(self.terms.vocab)).tocsc(),
        )


class IndexRegistry:
    """Process-wide cache of workspace indexes."""

    def __init__(self) -> None:
        self._indexes: dict[int, WorkspaceIndex] = {}
        self._lock = threading.Lock()

    def get(self, session: Session, workspace_id: int) -> WorkspaceIndex:
        with self._lock:
            index = self._indexes.setdefault(workspace_id, WorkspaceIndex(workspace_id))
        index.refresh(session)
        return index

    def forget(self, workspace_id: int | None = None) -> None:
        with self._lock:
            if workspace_id is None:
                self._indexes.clear()
            else:
                self._indexes.pop(workspace_id, None)


registry = IndexRegistry()
