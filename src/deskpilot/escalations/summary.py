"""The builtin hand-off summary: a few sentences of the customer's own words, picked by centrality.

Extractive on purpose: every line is text the customer (or the AI/agent, for "Tried:") wrote, so
the summary cannot invent facts. Sentences of the subject and the customer's public messages are
scored by TF-IDF cosine similarity to the whole customer conversation (the sentences that share
the most informative words with everything else are what the ticket is about); near-duplicates
are skipped; the picks are shown in their original order. The customer's latest ask is always
included: as its own "Customer's latest message:" line when the customer wrote more than once,
otherwise by forcing its best sentence into the picks. Internal notes never appear; AI and agent
replies only as one "Tried:" line (the latest public reply's most central sentence).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

MAX_WORDS = 40
"""Words per line before it is cut with an ellipsis."""
MAX_LINE_CHARS = 320
"""Characters per line (a 40-word line of pasted logs or URLs can still be huge)."""
ELLIPSIS = "…"
SUBJECT_BOOST = 1.15
"""The subject is the customer's own one-line summary: it wins close ties."""
DUPLICATE_SIMILARITY = 0.8
"""A candidate this similar to an already picked sentence adds nothing and is skipped."""

LATEST_LABEL = "Customer's latest message: "
TRIED_LABEL = "Tried: "
CUSTOMER_AUTHORS = frozenset({"customer"})
RESPONDER_AUTHORS = frozenset({"ai", "agent"})

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n")
_WORD = re.compile(r"[^\W_]+")
_QUESTION = re.compile(r"\?")
_REQUEST = re.compile(
    r"\b(please|pls|can you|could you|would you|how (do|can|to)|help|need|want|"
    r"when will|is it possible)\b",
    re.IGNORECASE,
)
_STOPWORD_TEXT = """
    a about above after again all also am an and any are as at be because been before being
    below between both but by could did do does doing down during each few for from further had
    has have having he her here hers him his how i if in into is it its itself just me more most
    my no nor not now of off on once only or other our ours out over own same she should so some
    such than that the their them then there these they this those through to too under until up
    very was we were what when where which while who whom why will with would you your yours hi
    hello thanks thank regards dear team please"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@dataclass(frozen=True)
class _Sentence:
    text: str
    message_index: int  # -1 for the subject
    position: int  # order in the conversation
    terms: Counter[str]


def summarize_conversation(
    messages: Sequence[tuple[str, str, str]], *, subject: str = "", max_sentences: int = 4
) -> str:
    """Summarize a ticket for the agent who takes it over.

    `messages` are (author_type, visibility, body) in conversation order; author types are
    `customer`, `agent`, `ai`, `system`; visibility `public` or `internal`. Returns at most
    `max_sentences` lines of the customer's words, then at most one "Tried: ..." and at most one
    "Customer's latest message: ..." line, each at most MAX_WORDS words and MAX_LINE_CHARS
    characters. Empty when there is nothing to summarize. Deterministic.
    """
    if max_sentences < 1:
        raise ValueError("max_sentences must be at least 1")
    customer_bodies = _public_bodies(messages, CUSTOMER_AUTHORS)
    responder_bodies = _public_bodies(messages, RESPONDER_AUTHORS)
    latest_line: str | None = None
    pool_bodies = customer_bodies
    if len(customer_bodies) > 1:
        # The follow-up is shown verbatim; its sentences leave the pool so nothing repeats.
        latest_line = LATEST_LABEL + _cut(customer_bodies[-1])
        pool_bodies = customer_bodies[:-1]

    pool = _sentences(subject, pool_bodies)
    tried = _sentences("", responder_bodies[-1:]) if responder_bodies else []
    idf = _idf([s.terms for s in pool + tried])
    vectors = {s.position: _weigh(s.terms, idf) for s in pool}
    centroid: dict[str, float] = {}
    for vector in vectors.values():
        for term, weight in vector.items():
            centroid[term] = centroid.get(term, 0.0) + weight
    scores = {
        s.position: _cosine(vectors[s.position], centroid)
        * (SUBJECT_BOOST if s.message_index < 0 else 1.0)
        for s in pool
    }

    forced: _Sentence | None = None
    if latest_line is None and customer_bodies:
        last_message = len(pool_bodies) - 1
        forced = _best_ask([s for s in pool if s.message_index == last_message], scores)
    picked = _pick(pool, vectors, scores, max_sentences, forced)

    lines = [_cut(s.text) for s in sorted(picked, key=lambda s: s.position)]
    if tried:
        tried_vectors = [_weigh(s.terms, idf) for s in tried]
        best = max(
            range(len(tried)),
            key=lambda i: (round(_cosine(tried_vectors[i], centroid), 9), -i),
        )
        lines.append(TRIED_LABEL + _cut(tried[best].text))
    if latest_line is not None:
        lines.append(latest_line)
    return "\n".join(lines)


def _pick(
    pool: list[_Sentence],
    vectors: dict[int, dict[str, float]],
    scores: dict[int, float],
    limit: int,
    forced: _Sentence | None,
) -> list[_Sentence]:
    picked: list[_Sentence] = [forced] if forced is not None else []
    ranked = sorted(pool, key=lambda s: (-round(scores[s.position], 9), s.position))
    for sentence in ranked:
        if len(picked) >= limit:
            break
        if not sentence.terms:  # greetings and sign-offs
            continue
        if any(
            sentence.position == p.position
            or _cosine(vectors[sentence.position], vectors[p.position]) >= DUPLICATE_SIMILARITY
            for p in picked
        ):
            continue
        picked.append(sentence)
    return picked


def _best_ask(candidates: list[_Sentence], scores: dict[int, float]) -> _Sentence | None:
    """The sentence that carries the ask: a question or request if any, else the most central."""
    if not candidates:
        return None
    candidates = [s for s in candidates if s.terms] or candidates
    asks = (
        [s for s in candidates if _QUESTION.search(s.text)]
        or [s for s in candidates if _REQUEST.search(s.text)]
        or candidates
    )
    return max(asks, key=lambda s: (round(scores[s.position], 9), s.position))


def _sentences(subject: str, bodies: Iterable[str]) -> list[_Sentence]:
    out: list[_Sentence] = []
    seen: set[str] = set()

    def add(text: str, message_index: int) -> None:
        key = _key(text)
        if not key or key in seen:
            return
        seen.add(key)
        out.append(_Sentence(text, message_index, len(out), Counter(_terms(text))))

    if _clean(subject):
        add(_clean(subject), -1)
    for index, body in enumerate(bodies):
        for part in _SENTENCE_END.split(body):
            add(part.strip(), index)
    return out


def _public_bodies(messages: Sequence[tuple[str, str, str]], authors: frozenset[str]) -> list[str]:
    """Public bodies of these authors: one cleaned line per input line, quoted history dropped."""
    bodies = []
    for author, visibility, body in messages:
        if author not in authors or visibility != "public":
            continue
        # Quoted history ("> ...") repeats earlier messages, which are already counted.
        lines = [_clean(ln) for ln in body.splitlines() if not ln.lstrip().startswith(">")]
        text = "\n".join(ln for ln in lines if ln)
        if _key(text):
            bodies.append(text)
    return bodies


def _clean(text: str) -> str:
    return " ".join(text.split())


def _key(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def _terms(text: str) -> list[str]:
    return [
        word
        for word in _WORD.findall(text.lower())
        if word not in _STOPWORDS and (len(word) > 1 or word.isdigit())
    ]


def _idf(documents: list[Counter[str]]) -> dict[str, float]:
    frequency: Counter[str] = Counter()
    for terms in documents:
        frequency.update(terms.keys())
    total = len(documents)
    return {term: math.log((1 + total) / (1 + count)) + 1.0 for term, count in frequency.items()}


def _weigh(terms: Counter[str], idf: dict[str, float]) -> dict[str, float]:
    return {term: (1.0 + math.log(count)) * idf.get(term, 1.0) for term, count in terms.items()}


def _cosine(a: dict[str, float], b: dict[str, float]) -> float:
    if not a or not b:
        return 0.0
    if len(a) > len(b):
        a, b = b, a
    dot = sum(weight * b.get(term, 0.0) for term, weight in a.items())
    norm = math.sqrt(sum(w * w for w in a.values())) * math.sqrt(sum(w * w for w in b.values()))
    return dot / norm if norm else 0.0


def _cut(text: str) -> str:
    """One line of at most MAX_WORDS words and MAX_LINE_CHARS characters; a cut ends with "…"."""
    words = text.split()
    cut = len(words) > MAX_WORDS
    text = " ".join(words[:MAX_WORDS])
    if len(text) > MAX_LINE_CHARS - len(ELLIPSIS):
        text = text[: MAX_LINE_CHARS - len(ELLIPSIS)].rstrip()
        cut = True
    return text + ELLIPSIS if cut else text
