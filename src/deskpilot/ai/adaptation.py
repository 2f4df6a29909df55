"""Adapting the embedder to one workspace's knowledge base, without labelled queries.

A general sentence encoder does not know that, in this help desk, "corona" means the article
titled "What is COVID-19?" or that "SSO" and "single sign-on" are the same page. We teach it from
the KB itself: each article title should land near the passages written under it and far from
other articles' passages (contrastive learning with in-batch negatives). No query, label or
network access is needed, so a workspace can adapt the day its KB is imported; docs/ai.md shows
what it gains on CovidFAQ.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
SENTENCE_RE = re.compile(r"(?<=[.!?])\s+")
MIN_WORDS = 4


@dataclass(frozen=True)
class AdaptationConfig:
    epochs: int = 1
    batch_size: int = 32
    learning_rate: float = 2e-5
    max_pairs: int = 3000
    """Caps training time on big KBs (~1-3 minutes per 1,000 pairs on 2 CPU cores)."""
    max_seq_length: int = 128
    scale: float = 20.0
    seed: int = 0


@dataclass(frozen=True)
class ArticleText:
    title: str
    summary: str
    passages: Sequence[str]


@dataclass(frozen=True)
class Pair:
    anchor: str
    positive: str
    group: int
    """Pairs of one article share a group and are never used as each other's negatives."""


def training_pairs(articles: Sequence[ArticleText], config: AdaptationConfig) -> list[Pair]:
    """Title -> each two-sentence window of its passages, and title -> summary or whole passage."""
    pairs: list[Pair] = []
    for group, article in enumerate(articles):
        if article.summary:
            pairs.append(Pair(article.title, article.summary, group))
        for passage in article.passages:
            sentences = [s for s in SENTENCE_RE.split(passage) if len(s.split()) >= MIN_WORDS]
            for start in range(len(sentences)):
                pairs.append(Pair(article.title, " ".join(sentences[start : start + 2]), group))
            pairs.append(Pair(article.title, passage, group))
    rng = random.Random(config.seed)
    rng.shuffle(pairs)
    return pairs[: config.max_pairs]


def fine_tune(
    base_model_path: Path, pairs: Sequence[Pair], out_dir: Path, config: AdaptationConfig
) -> Path:
    """Train a copy of the base model on `pairs` and save it (sentence-transformers layout)."""
    import torch
    import torch.nn.functional as F  # noqa: N812 - the conventional name
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(config.seed)
    model = SentenceTransformer(str(base_model_path), device="cpu")
    model.max_seq_length = config.max_seq_length
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate)
    started = time.monotonic()
    model.train()
    for epoch in range(config.epochs):
        order = list(pairs)
        random.Random(config.seed + epoch).shuffle(order)
        for start in range(0, len(order), config.batch_size):
            batch = order[start : start + config.batch_size]
            if len(batch) < 2:
                continue
            anchors = _encode(model, [p.anchor for p in batch])
            positives = _encode(model, [p.positive for p in batch])
            logits = anchors @ positives.T * config.scale
            groups = torch.tensor([p.group for p in batch])
            same_article = (groups[:, None] == groups[None, :]) & ~torch.eye(
                len(batch), dtype=torch.bool
            )
            logits = logits.masked_fill(same_article, -1e4)
            target = torch.arange(len(batch))
            loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
            optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save(str(out_dir))
    log.info(
        "adapted embedder on %d pairs in %.1fs -> %s",
        len(pairs),
        time.monotonic() - started,
        out_dir,
    )
    return out_dir


def _encode(model: Any, texts: list[str]) -> Any:
    import torch.nn.functional as F  # noqa: N812

    # sentence-transformers renamed tokenize() to preprocess(); accept either version.
    prepare = getattr(model, "preprocess", None) or model.tokenize
    features = prepare(texts)
    return F.normalize(model(features)["sentence_embedding"], dim=-1)
