"""Retrieval-augmented answering: the question, its passages, a composed and checked answer.

The query is the ticket's subject plus the customer's latest message (earlier turns go to the
language model as history, not into retrieval, where they would drag in the old topic); the passages are the best chunks of the top articles from the KB's hybrid search
(published articles the customer may see); the answer comes from the workspace's language model
(builtin extractive by default) and must pass the groundedness check, else the builtin answer
replaces it. Texts for customers are framed here, with links to the cited articles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from deskpilot.ai.ports import AnswerRequest, DraftAnswer, Passage
from deskpilot.core.context import Context
from deskpilot.kb import search as kb_search
from deskpilot.kb.search import SearchFilters, SearchHit
from deskpilot.triage import grounding
from deskpilot.triage.grounding import Grounding

RETRIEVE = 5
PASSAGES = 3
HISTORY_TURNS = 4
HISTORY_CHARS = 400
MAX_QUERY_CHARS = 1000


@dataclass(frozen=True)
class Turn:
    author: str  # "customer" | "agent" | "ai"
    text: str


def build_query(subject: str, turns: Sequence[Turn]) -> str:
    """Subject + the customer's latest message (the question as it stands now)."""
    latest = next((t.text for t in reversed(turns) if t.author == "customer"), "")
    text = f"{subject}. {latest}" if subject and latest else subject or latest
    return " ".join(text.split())[:MAX_QUERY_CHARS]


def history(turns: Sequence[Turn]) -> tuple[tuple[str, str], ...]:
    """The turns before the latest customer message, newest last, each cut short."""
    earlier = list(turns)
    for index in range(len(earlier) - 1, -1, -1):
        if earlier[index].author == "customer":
            earlier = earlier[:index]
            break
    return tuple((t.author, t.text[:HISTORY_CHARS]) for t in earlier[-HISTORY_TURNS:])


def customer_filters() -> SearchFilters:
    """An answer for a customer may only use what a customer may read."""
    return SearchFilters(statuses=frozenset({"published"}), visibilities=frozenset({"external"}))


def retrieve(session: Session, ctx: Context, query: str) -> list[SearchHit]:
    if not query.strip():
        return []
    return kb_search.search(session, ctx, query, limit=RETRIEVE, filters=customer_filters()).hits


def article_url(workspace_slug: str, hit: SearchHit) -> str:
    return f"/help/{workspace_slug}/articles/{hit.slug}"


def passages_for(hits: Sequence[SearchHit], workspace_slug: str) -> list[Passage]:
    return [
        Passage(
            ref=f"P{i + 1}",
            article_id=hit.article_id,
            chunk_id=hit.chunk_id,
            title=hit.title,
            url=article_url(workspace_slug, hit),
            text=hit.passage,
        )
        for i, hit in enumerate(hits[:PASSAGES])
    ]


def answer_request(
    question: str, passages: Sequence[Passage], turns: Sequence[Turn]
) -> AnswerRequest:
    """Temperature and output length are the workspace's provider settings, applied by
    `llm.service.compose_answer`."""
    return AnswerRequest(question=question, passages=tuple(passages), history=history(turns))


def ground(answer: DraftAnswer | None, passages: Sequence[Passage]) -> Grounding | None:
    return grounding.check(answer, passages) if answer is not None else None


def cited_passages(answer: DraftAnswer, passages: Sequence[Passage]) -> list[Passage]:
    refs = {ref for sentence in answer.sentences for ref in sentence.citations}
    return [p for p in passages if p.ref in refs]


def citations(
    answer: DraftAnswer | None, passages: Sequence[Passage], hits: Sequence[SearchHit]
) -> list[dict[str, object]]:
    if answer is None:
        return []
    by_chunk = {hit.chunk_id: hit for hit in hits}
    out: list[dict[str, object]] = []
    for passage in cited_passages(answer, passages):
        hit = by_chunk[passage.chunk_id]
        out.append(
            {
                "article_id": hit.article_id,
                "external_id": hit.external_id,
                "chunk_id": hit.chunk_id,
                "score": hit.score,
                "title": hit.title,
                "url": passage.url,
            }
        )
    return out


def answer_markdown(answer: DraftAnswer, passages: Sequence[Passage]) -> str:
    """The answer's sentences followed by links to the articles they came from."""
    body = " ".join(s.text.strip() for s in answer.sentences if s.text.strip())
    links = [f"- [{p.title}]({p.url})" for p in cited_passages(answer, passages)]
    return body + ("\n\nFrom our help center:\n" + "\n".join(links) if links else "")


def customer_reply(decision: str, answer_md: str | None, hits: Sequence[SearchHit]) -> str | None:
    """What the customer is sent for a decision (None for `escalate`: a person will write)."""
    if decision == "resolve" and answer_md:
        return (
            f"{answer_md}\n\nIf this doesn't solve it, just reply to this message and a member "
            "of our team will pick it up."
        )
    if decision == "confirm" and answer_md:
        return (
            f"{answer_md}\n\n**Did this solve your problem?** Reply yes or no; if not, a member "
            "of our team will take over."
        )
    if decision == "clarify":
        return clarifying_question(hits)
    return None


def clarifying_question(hits: Sequence[SearchHit]) -> str:
    titles = [hit.title for hit in hits[:2]]
    if len(titles) == 2:
        return (
            "To point you to the right answer: is your question closer to "
            f'"{titles[0]}" or to "{titles[1]}"? A sentence or two more about what you are '
            "trying to do (and any error message you see) will help."
        )
    return (
        "Could you tell us a bit more about what you are trying to do, what you expected to "
        "happen and what happened instead (including any error message)? That will help us "
        "find the right answer."
    )
