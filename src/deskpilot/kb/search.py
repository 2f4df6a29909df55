"""Hybrid retrieval: dense (MiniLM) and lexical (BM25) signals fused per article.

One function serves the help center, the agent console's suggestions and the AI pipeline. Each
signal is standardised across the eligible articles (z-scores) and blended with fixed weights:
the passage match carries the answer, the title/summary match catches short questions, BM25
rescues rare exact terms (product names, error codes) that embeddings blur. docs/ai.md explains
the choice and the numbers behind it.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session

from deskpilot.ai.embeddings import embedder_for
from deskpilot.ai.ports import Embedder
from deskpilot.core.context import Context
from deskpilot.core.errors import ValidationFailed
from deskpilot.kb.index import IndexArrays, registry
from deskpilot.kb.lexical import STOPWORDS, WORD_RE, tokenize
from deskpilot.tickets import service as tickets_service

log = logging.getLogger(__name__)
MAX_QUERY_CHARS = 1000
MAX_LIMIT = 50
SNIPPET_CHARS = 280
W_PASSAGE = 1.0
W_TITLE = 1.0
W_LEXICAL = 0.1


@dataclass(frozen=True)
class SearchFilters:
    statuses: frozenset[str] = frozenset({"published"})
    visibilities: frozenset[str] | None = None
    category_id: int | None = None
    tag: str | None = None


@dataclass(frozen=True)
class SearchHit:
    article_id: int
    external_id: str | None
    title: str
    slug: str
    snippet: str
    score: float
    chunk_id: int
    dense: float
    """Cosine similarity of the best passage: an absolute signal the AI's confidence can use."""
    lexical: float
    title_dense: float = 0.0
    # The best passage in full (plain text, not escaped): what an answer is composed from.
    passage: str = ""


@dataclass
class SearchResult:
    query: str
    hits: list[SearchHit] = field(default_factory=list)


def validate_query(query: str) -> str:
    cleaned = " ".join(query.split())
    if not cleaned:
        raise ValidationFailed(
            "Empty query", details=[{"field": "q", "message": "must not be empty"}]
        )
    if len(cleaned) > MAX_QUERY_CHARS:
        raise ValidationFailed(
            "Query too long",
            details=[{"field": "q", "message": f"at most {MAX_QUERY_CHARS} characters"}],
        )
    return cleaned


def filters_for(ctx: Context, requested: SearchFilters) -> SearchFilters:
    """Customers and anonymous readers only ever see published external articles."""
    if ctx.is_staff:
        return requested
    return SearchFilters(
        statuses=frozenset({"published"}),
        visibilities=frozenset({"external"}),
        category_id=requested.category_id,
        tag=requested.tag,
    )


@dataclass(frozen=True)
class Weights:
    passage: float = W_PASSAGE
    title: float = W_TITLE
    lexical: float = W_LEXICAL


HYBRID = Weights()
DENSE_ONLY = Weights(lexical=0.0)
LEXICAL_ONLY = Weights(passage=0.0, title=0.0, lexical=1.0)


def search(
    session: Session,
    ctx: Context,
    query: str,
    *,
    limit: int = 10,
    filters: SearchFilters | None = None,
    embedder_for_model: Callable[[str], Embedder] = embedder_for,
    weights: Weights = HYBRID,
) -> SearchResult:
    query = validate_query(query)
    limit = max(1, min(limit, MAX_LIMIT))
    effective = filters_for(ctx, filters or SearchFilters())
    index = registry.get(session, ctx.workspace_id)
    arrays = index.arrays
    if not arrays.entries:
        return SearchResult(query)
    eligible = _eligible(arrays, effective)
    if not eligible.any():
        return SearchResult(query)
    qvecs = [_embed_query(embedder_for_model, model, query) for model in arrays.models]
    scores = score_articles(arrays, qvecs, tokenize(query), index.terms.lookup)
    blended = _blend(scores, eligible, weights)
    order = np.argsort(-blended)[: int(min(limit, eligible.sum()))]
    # Highlight what the query is about, not its "the" and "and".
    terms = {w for w in WORD_RE.findall(query.lower()) if len(w) > 2 and w not in STOPWORDS}
    hits = [_hit(arrays, int(a), float(blended[a]), scores, terms) for a in order if eligible[a]]
    return SearchResult(query, hits)


@dataclass
class ArticleScores:
    passage: npt.NDArray[np.float32]
    title: npt.NDArray[np.float32]
    lexical: npt.NDArray[np.float32]
    chunk_dense: npt.NDArray[np.float32]


def _embed_query(
    embedder_for_model: Callable[[str], Embedder], model: str, query: str
) -> npt.NDArray[np.float32] | None:
    """The query in one model's space, or None if that model's files are gone: its chunks then
    count as unrelated until the stale sweep re-embeds them, instead of failing the search."""
    try:
        vectors = embedder_for_model(model).embed([query])
        return np.asarray(vectors[0], dtype=np.float32)
    except FileNotFoundError:
        log.error("embedding model %s is missing; its chunks are skipped until re-embedded", model)
        return None


def score_articles(
    arrays: IndexArrays,
    qvecs: Sequence[npt.NDArray[np.float32] | None],
    query_tokens: Sequence[str],
    lookup: Callable[[Sequence[str]], npt.NDArray[np.int64]],
) -> ArticleScores:
    """Per-article signals; `qvecs` holds the query embedded by each model in `arrays.models`."""
    if len(qvecs) == 1 and qvecs[0] is not None:
        dense = arrays.vectors @ qvecs[0]
    else:
        dense = np.full(len(arrays.chunk_model), -1.0, dtype=np.float32)
        for model, qvec in enumerate(qvecs):
            if qvec is not None:
                mask = arrays.chunk_model == model
                dense[mask] = arrays.vectors[mask] @ qvec
    cols = lookup(query_tokens)
    if len(cols):
        lexical = np.asarray(arrays.bm25[:, cols].sum(axis=1)).ravel().astype(np.float32)
    else:
        lexical = np.zeros(len(arrays.entries), dtype=np.float32)
    starts = arrays.article_starts
    passage_dense = np.where(arrays.chunk_is_title, -1.0, dense).astype(np.float32)
    title_dense = np.where(arrays.chunk_is_title, dense, -1.0).astype(np.float32)
    passage = np.maximum.reduceat(passage_dense, starts)
    title = np.maximum.reduceat(title_dense, starts)
    # An article without passages (title only) competes on its title.
    passage = np.where(passage < -0.5, title, passage)
    title = np.where(title < -0.5, passage, title)
    return ArticleScores(
        passage=passage,
        title=title,
        lexical=lexical,
        chunk_dense=dense.astype(np.float32),
    )


def _z(values: npt.NDArray[np.float32], mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.float32]:
    chosen = values[mask]
    std = float(chosen.std()) if chosen.size > 1 else 0.0
    return ((values - float(chosen.mean())) / (std if std > 1e-9 else 1.0)).astype(np.float32)


def _blend(
    scores: ArticleScores, eligible: npt.NDArray[np.bool_], weights: Weights
) -> npt.NDArray[np.float32]:
    blended = np.zeros(len(scores.passage), dtype=np.float32)
    for weight, signal in (
        (weights.passage, scores.passage),
        (weights.title, scores.title),
        (weights.lexical, scores.lexical),
    ):
        if weight:
            blended += weight * _z(signal, eligible)
    return np.where(eligible, blended, -np.inf).astype(np.float32)


def _eligible(arrays: IndexArrays, f: SearchFilters) -> npt.NDArray[np.bool_]:
    """Articles the filters allow; cached on the (immutable) arrays per distinct filter."""
    cached = arrays.eligibility.get(f)
    if cached is None:
        cached = _compute_eligible(arrays, f)
        if len(arrays.eligibility) > 64:
            arrays.eligibility.clear()
        arrays.eligibility[f] = cached
    return cached


def _compute_eligible(arrays: IndexArrays, f: SearchFilters) -> npt.NDArray[np.bool_]:
    return np.array(
        [
            e.status in f.statuses
            and (f.visibilities is None or e.visibility in f.visibilities)
            and (f.category_id is None or e.category_id == f.category_id)
            and (f.tag is None or f.tag in e.tags)
            for e in arrays.entries
        ],
        dtype=bool,
    )


def _hit(
    arrays: IndexArrays,
    position: int,
    score: float,
    scores: ArticleScores,
    terms: set[str],
) -> SearchHit:
    entry = arrays.entries[position]
    start = int(arrays.article_starts[position])
    local = scores.chunk_dense[start : start + len(entry.chunk_ids)]
    passages = [i for i, kind in enumerate(entry.kinds) if kind != "title"] or [0]
    best = max(passages, key=lambda i: float(local[i]))
    return SearchHit(
        article_id=entry.article_id,
        external_id=entry.external_id,
        title=entry.title,
        slug=entry.slug,
        snippet=highlight(entry.texts[best], terms),
        score=round(score, 4),
        chunk_id=entry.chunk_ids[best],
        dense=round(float(scores.passage[position]), 4),
        lexical=round(float(scores.lexical[position]), 4),
        title_dense=round(float(scores.title[position]), 4),
        passage=entry.texts[best],
    )


def highlight(text: str, terms: set[str], width: int = SNIPPET_CHARS) -> str:
    """An HTML-escaped excerpt around the first matching term, matches wrapped in <mark>."""
    flat = " ".join(text.split())
    lowered = flat.lower()
    first = min((i for t in terms if (i := lowered.find(t)) >= 0), default=0)
    start = max(0, first - width // 3)
    if start:
        start = flat.find(" ", start) + 1 or start
    excerpt = flat[start : start + width]
    escaped = html.escape(excerpt)
    if terms:
        pattern = re.compile(
            r"\b(" + "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)) + r")",
            re.I,
        )
        escaped = pattern.sub(r"<mark>\1</mark>", escaped)
    prefix = "…" if start else ""
    suffix = "…" if start + width < len(flat) else ""
    return prefix + escaped + suffix


def ticket_query(subject: str, description: str, latest_customer_message: str | None) -> str:
    """Subject plus what the customer said last: the question as it stands now."""
    body = latest_customer_message if latest_customer_message else description
    return " ".join(f"{subject}. {body}".split())[:MAX_QUERY_CHARS]


def suggest_for_ticket(
    session: Session, ctx: Context, ticket_id: int, *, limit: int = 5
) -> SearchResult:
    """Articles for the agent console: searched with the ticket's current question."""
    ctx.require_staff()
    ticket = tickets_service.get_ticket(session, ctx, ticket_id)
    messages = tickets_service.list_messages(session, ctx, ticket)
    latest = next((m.body for m in reversed(messages) if m.author_type == "customer"), None)
    return search(
        session, ctx, ticket_query(ticket.subject, ticket.description, latest), limit=limit
    )
