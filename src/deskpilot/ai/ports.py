"""What the rest of the code may ask of an AI component."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> Vectors: ...


@dataclass(frozen=True)
class Passage:
    """A retrieved KB passage an answer may use; `ref` is what an answer cites (e.g. "P1")."""

    ref: str
    article_id: int
    chunk_id: int
    title: str
    url: str
    text: str


@dataclass(frozen=True)
class AnswerRequest:
    """Everything a language model may see for one answer (already redacted for outside ones)."""

    question: str
    passages: Sequence[Passage]
    # Earlier turns, oldest first: ("customer" | "agent" | "ai", text).
    history: Sequence[tuple[str, str]] = ()
    temperature: float = 0.2
    max_output_tokens: int = 600


@dataclass(frozen=True)
class AnswerSentence:
    text: str
    citations: tuple[str, ...]


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class DraftAnswer:
    """A model's structured answer: sentences, each citing the passages it rests on.

    `answerable` is False when the model says the passages do not answer the question.
    """

    sentences: tuple[AnswerSentence, ...]
    answerable: bool
    provider: str
    model: str
    usage: Usage = Usage()
    prompt_version: str = ""

    @property
    def text(self) -> str:
        return " ".join(sentence.text for sentence in self.sentences)


class LLM(Protocol):
    """Composes a grounded answer from passages. Adapters: builtin (extractive), anthropic, openai."""

    @property
    def provider(self) -> str: ...

    @property
    def model(self) -> str: ...

    def answer(self, request: AnswerRequest) -> DraftAnswer: ...


@dataclass(frozen=True)
class LabelPrediction:
    label: str
    confidence: float
    out_of_scope: bool
    # Every label's probability, for callers that show or threshold alternatives.
    probabilities: dict[str, float] = field(default_factory=dict)


class Classifier(Protocol):
    """Labels texts with probabilities and says when a text is like none of its labels."""

    @property
    def labels(self) -> Sequence[str]: ...

    def classify(self, texts: Sequence[str]) -> list[LabelPrediction]: ...


class Reranker(Protocol):
    """Optional second-stage scorer of (query, passage) pairs; higher is more relevant."""

    def score(self, query: str, passages: Sequence[str]) -> list[float]: ...
