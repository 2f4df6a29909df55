"""Groundedness: is every sentence of an answer supported by a passage it cites?

A sentence is supported when it cites at least one passage that exists and most of its content
words (stemmed, stopwords dropped, as the KB's lexical index reads them) occur in
one of the passages it cites. Verbatim extracts (the builtin provider) pass trivially; a language
model's paraphrase passes when it stays close to the passage's words; a sentence that brings in
facts the passages do not contain fails, and so does an answer citing nothing. Numbers must match
exactly: a changed price or deadline is the most harmful kind of unsupported claim.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from deskpilot.ai.ports import DraftAnswer, Passage
from deskpilot.kb import lexical

SUPPORT_THRESHOLD = 0.6
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def content_words(text: str) -> set[str]:
    """Stemmed words without stopwords, as the KB's lexical index sees them."""
    return set(lexical.content_words(text))


@dataclass(frozen=True)
class Grounding:
    grounded: bool
    supported: int
    sentences: int
    unsupported: tuple[str, ...]

    @property
    def ratio(self) -> float:
        return self.supported / self.sentences if self.sentences else 0.0


def sentence_supported(sentence: str, cited: Sequence[Passage]) -> bool:
    words = content_words(sentence)
    numbers = set(_NUMBER.findall(sentence))
    for passage in cited:
        if numbers - set(_NUMBER.findall(passage.text)):
            continue
        if not words:
            return True
        overlap = len(words & content_words(passage.title + " " + passage.text)) / len(words)
        if overlap >= SUPPORT_THRESHOLD:
            return True
    return False


def check(answer: DraftAnswer, passages: Sequence[Passage]) -> Grounding:
    by_ref = {p.ref: p for p in passages}
    unsupported = []
    for sentence in answer.sentences:
        cited = [by_ref[ref] for ref in sentence.citations if ref in by_ref]
        if not cited or not sentence_supported(sentence.text, cited):
            unsupported.append(sentence.text)
    total = len(answer.sentences)
    return Grounding(
        grounded=bool(total) and answer.answerable and not unsupported,
        supported=total - len(unsupported),
        sentences=total,
        unsupported=tuple(unsupported),
    )
