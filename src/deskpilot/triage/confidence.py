"""Confidence: the probability that an answer resolves the question, from retrieval signals.

A calibrator is a logistic regression over a fixed list of features (standardised), fitted on
labelled questions: "was the top article the right one". Logistic regression is the calibrator
because it is well calibrated by construction on the data it is fitted on, needs few examples,
and stores as a few numbers (JSON, no pickles). The default calibrator ships with Deskpilot
(fitted on the CovidFAQ development queries by `deskpilot ai calibrate`); a workspace gets its
own, refitted from its tickets' outcomes, once it has enough of them.

Features come from the hybrid search (see `kb/search.py`): the best article's margins over the
next two in blended z-score units, the best passage's and title's cosine similarities and their
margins over the runner-up, whether BM25 matched at all, whether each single signal agrees on
the winner, and how many of the question's words the best article's title contains (and how
many more than the runner-up's title): a title that restates the question is strong evidence. Raw blended scores and raw BM25 are left out on purpose: their scale depends on the
size of the knowledge base, so a calibrator fitted on one KB would misjudge another. When an
answer is not grounded in its passages, its confidence is capped (`UNGROUNDED_CAP`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt

from deskpilot.kb.lexical import content_words
from deskpilot.kb.search import SearchHit

FEATURES: tuple[str, ...] = (
    "margin_2",
    "margin_3",
    "passage_cosine",
    "title_cosine",
    "passage_margin",
    "title_margin",
    "has_bm25",
    "passage_agrees",
    "title_agrees",
    "bm25_agrees",
    "passage_gap",
    "title_gap",
    "title_overlap",
    "title_overlap_margin",
)
# Standardised features are clipped to this many standard deviations: a workspace whose KB is
# much smaller or larger than the calibration set must not get extrapolated certainty.
CLIP_SD = 3.0
# A missing runner-up counts as this far behind (in blended z-score units).
LONE_MARGIN = 3.0
UNGROUNDED_CAP = 0.3
DEFAULT_CALIBRATOR = "default_calibrator.json"


def features(query: str, hits: Sequence[SearchHit]) -> dict[str, float]:
    """The feature vector of the best hit (empty when nothing was found)."""
    if not hits:
        return {}
    top = hits[0]
    rest = hits[1:]

    def margin(values: Sequence[float], default: float) -> float:
        return values[0] - max(values[1:]) if len(values) > 1 else default

    passages = [h.dense for h in hits]
    titles = [h.title_dense for h in hits]
    lexical = [h.lexical for h in hits]
    return {
        "margin_2": top.score - rest[0].score if rest else LONE_MARGIN,
        "margin_3": top.score - rest[1].score if len(rest) > 1 else LONE_MARGIN,
        "passage_cosine": top.dense,
        "title_cosine": top.title_dense,
        "passage_margin": margin(passages, 1.0),
        "title_margin": margin(titles, 1.0),
        "has_bm25": float(top.lexical > 0),
        "passage_agrees": float(int(np.argmax(passages)) == 0),
        "title_agrees": float(int(np.argmax(titles)) == 0),
        "bm25_agrees": float(int(np.argmax(lexical)) == 0),
        "passage_gap": top.dense - rest[0].dense if rest else 1.0,
        "title_gap": top.title_dense - rest[0].title_dense if rest else 1.0,
        "title_overlap": overlap(query, top.title),
        "title_overlap_margin": overlap(query, top.title) - overlap(query, rest[0].title)
        if rest
        else overlap(query, top.title),
    }


def overlap(query: str, title: str) -> float:
    """Share of the question's content words (stemmed, no stopwords) that the title contains."""
    words = set(content_words(query))
    if not words:
        return 0.0
    return len(words & set(content_words(title))) / len(words)


@dataclass(frozen=True)
class Calibrator:
    """Standardise, then a logistic regression: P(answer resolves) from the features."""

    name: str
    feature_names: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    samples: int = 0

    def probability(self, values: dict[str, float]) -> float:
        if not values:
            return 0.0
        z = self.intercept
        for name, mean, scale, coef in zip(
            self.feature_names, self.mean, self.scale, self.coef, strict=True
        ):
            standard = (values.get(name, mean) - mean) / scale
            z += coef * max(-CLIP_SD, min(CLIP_SD, standard))
        return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, z))))

    def as_params(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_params(params: dict[str, Any]) -> Calibrator:
        return Calibrator(
            name=str(params["name"]),
            feature_names=tuple(params["feature_names"]),
            mean=tuple(float(v) for v in params["mean"]),
            scale=tuple(float(v) for v in params["scale"]),
            coef=tuple(float(v) for v in params["coef"]),
            intercept=float(params["intercept"]),
            samples=int(params.get("samples", 0)),
        )


def confidence(calibrator: Calibrator, values: dict[str, float], *, grounded: bool = True) -> float:
    probability = calibrator.probability(values)
    if not grounded:
        probability = min(probability, UNGROUNDED_CAP)
    return round(probability, 4)


def matrix(rows: Sequence[dict[str, float]]) -> npt.NDArray[np.float64]:
    return np.array([[row[name] for name in FEATURES] for row in rows], dtype=np.float64)


def fit_calibrator(
    rows: Sequence[dict[str, float]], labels: Sequence[bool], *, name: str, c: float = 0.3
) -> Calibrator:
    """Fit on feature rows and whether each answer was right (both outcomes must occur)."""
    from sklearn.linear_model import LogisticRegression

    x = matrix(rows)
    y = np.asarray(labels, dtype=bool)
    if len(set(y.tolist())) < 2:
        raise ValueError("calibration needs both right and wrong answers")
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale < 1e-9, 1.0, scale)
    model = LogisticRegression(C=c, max_iter=2000).fit((x - mean) / scale, y)
    return Calibrator(
        name=name,
        feature_names=FEATURES,
        mean=tuple(float(v) for v in mean),
        scale=tuple(float(v) for v in scale),
        coef=tuple(float(v) for v in model.coef_[0]),
        intercept=float(model.intercept_[0]),
        samples=len(y),
    )


def default_calibrator() -> Calibrator:
    text = resources.files("deskpilot.triage").joinpath("data", DEFAULT_CALIBRATOR).read_text()
    return Calibrator.from_params(json.loads(text))


def reliability(
    probabilities: Sequence[float], outcomes: Sequence[bool], bins: int = 10
) -> tuple[list[dict[str, Any]], float]:
    """Reliability table (per confidence bin: count, mean confidence, accuracy) and the expected
    calibration error (the count-weighted gap between the two)."""
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(outcomes, dtype=np.float64)
    if not len(p):
        return [], 0.0
    index = np.clip((p * bins).astype(int), 0, bins - 1)
    table: list[dict[str, Any]] = []
    ece = 0.0
    for b in range(bins):
        mask = index == b
        if not mask.any():
            continue
        mean_p, accuracy = float(p[mask].mean()), float(y[mask].mean())
        ece += abs(mean_p - accuracy) * float(mask.mean())
        table.append(
            {
                "bin": f"{b / bins:.1f}-{(b + 1) / bins:.1f}",
                "count": int(mask.sum()),
                "confidence": round(mean_p, 4),
                "accuracy": round(accuracy, 4),
            }
        )
    return table, round(ece, 4)
