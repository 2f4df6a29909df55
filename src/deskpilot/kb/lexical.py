"""Lexical side of hybrid search: tokenizer and BM25 weights over a sparse term matrix."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt
from scipy import sparse

APOSTROPHES = "'\u2019"
WORD_RE = re.compile(r"[a-z0-9]+(?:[" + APOSTROPHES + r"][a-z]+)?")
STOPWORDS = frozenset(
    """a about above after again all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has
    have having he her here hers him his how i if in into is it its itself just me more most my no
    nor not of off on once only or other our out over own same she should so some such than that
    the their them then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours please hi hello thanks""".split()  # noqa: SIM905 - a word list reads best as prose
)
K1 = 1.2
B = 0.75


def _stem(word: str) -> str:
    """A light stemmer: enough to match plurals and common verb forms, never worse than none."""
    word = word.replace("\u2019", "'")
    if word.endswith("'s"):
        word = word[:-2]
    for suffix, keep in (
        ("ies", "y"),
        ("sses", "ss"),
        ("ing", ""),
        ("ed", ""),
        ("es", "e"),
        ("s", ""),
    ):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return word[: -len(suffix)] + keep
    return word


def content_words(text: str) -> list[str]:
    """Stemmed words without stopwords, in order."""
    stemmed = (_stem(w) for w in WORD_RE.findall(text.lower()))
    return [w for w in stemmed if w not in STOPWORDS]


def tokenize(text: str) -> list[str]:
    """Stemmed unigrams without stopwords, plus bigrams of adjacent kept words."""
    words = content_words(text)
    return words + [f"{a} {b}" for a, b in itertools.pairwise(words)]


class TermCounts:
    """Per-chunk term counts against a growing shared vocabulary."""

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}

    def encode(
        self, tokens: Iterable[str]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        counts = Counter(tokens)
        cols = np.fromiter(
            (self.vocab.setdefault(t, len(self.vocab)) for t in counts), dtype=np.int64
        )
        return cols, np.fromiter(counts.values(), dtype=np.float32, count=len(counts))

    def lookup(self, tokens: Sequence[str]) -> npt.NDArray[np.int64]:
        return np.array(sorted({self.vocab[t] for t in tokens if t in self.vocab}), dtype=np.int64)


def bm25_matrix(
    rows: Sequence[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]], n_terms: int
) -> sparse.csr_matrix:
    """Documents x terms matrix of BM25 weights; a query scores as the sum over its columns."""
    n_docs = len(rows)
    if n_docs == 0:
        return sparse.csr_matrix((0, max(n_terms, 1)), dtype=np.float32)
    lengths = np.array([float(tf.sum()) for _, tf in rows], dtype=np.float32)
    indptr = np.zeros(n_docs + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(cols) for cols, _ in rows])
    indices = np.concatenate([cols for cols, _ in rows]) if indptr[-1] else np.zeros(0, np.int64)
    tf = np.concatenate([tf for _, tf in rows]) if indptr[-1] else np.zeros(0, np.float32)
    doc_of_entry = np.repeat(np.arange(n_docs), np.diff(indptr))
    df = np.bincount(indices, minlength=n_terms).astype(np.float32)
    idf = np.log1p((n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
    avg = float(lengths.mean()) or 1.0
    norm = K1 * (1 - B + B * lengths[doc_of_entry] / avg)
    weights = idf[indices] * tf * (K1 + 1) / (tf + norm)
    return sparse.csr_matrix((weights, indices, indptr), shape=(n_docs, max(n_terms, 1)))
