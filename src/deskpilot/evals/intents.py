"""`deskpilot eval intents` and `deskpilot eval oos`: how well the intent classifier labels texts
and rejects out-of-scope ones.

Every text is embedded once up front (a batch) as an untuned classifier would (`training_vectors`:
the int8 built-in encoder by default), and folds slice those vectors. With fine-tuning (`--tune`),
each fold tunes its own encoder on that fold's training part only, and its test texts are embedded
by that encoder. The defaults are what workspaces train with (`WORKSPACE_CONFIG`). Latency is
measured separately, end to end on single uncached texts (embed + classify), as a ticket would be.
Inference threads come from DESKPILOT_AI_THREADS.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold

from deskpilot.ai.classifier import (
    OOS_LABEL,
    WORKSPACE_CONFIG,
    ClassifierConfig,
    IntentClassifier,
    train_classifier,
    training_vectors,
)
from deskpilot.ai.embeddings import configure_threads, default_embedder
from deskpilot.ai.ports import Embedder, Vectors
from deskpilot.evals.common import percentiles
from deskpilot.settings import load_settings

LATENCY_SAMPLE = 300


def _embedder() -> Embedder:
    configure_threads(load_settings().ai_threads)
    return default_embedder()


def _held_out_vectors(
    classifier: IntentClassifier, texts: Sequence[str], frozen: Vectors, embedder: Embedder
) -> Vectors:
    """Vectors of texts the classifier did not train on, from its own encoder when it tuned one
    (`frozen` are the untuned vectors of the same texts)."""
    tuned = classifier.encoder is not None and classifier.encoder.tuned
    return classifier.embed(texts, embedder) if tuned else frozen


def measure_latency(
    classifier: IntentClassifier, texts: Sequence[str], embedder: Embedder
) -> dict[str, float]:
    """Milliseconds per single-text prediction, embedding included."""
    sample = list(texts)[:LATENCY_SAMPLE]
    classifier.predict(sample[:2], embedder)  # warm up: model load, first-call allocations
    samples_ms = []
    for text in sample:
        started = time.perf_counter()
        classifier.predict([text], embedder)
        samples_ms.append((time.perf_counter() - started) * 1000)
    return percentiles(samples_ms)


def run_cross_validation(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    folds: int = 5,
    config: ClassifierConfig | None = None,
    embedder: Embedder | None = None,
    vectors: Vectors | None = None,
) -> dict[str, Any]:
    """Stratified k-fold accuracy and macro F1 (the top label; no rejection)."""
    embedder = embedder or _embedder()
    # The threshold is not scored here, so skip its calibration.
    config = config or replace(WORKSPACE_CONFIG, calibration_folds=0)
    label_array = np.asarray(labels)
    started = time.perf_counter()
    all_vectors = training_vectors(texts, embedder, config) if vectors is None else vectors
    embed_seconds = time.perf_counter() - started
    predicted = np.empty(len(texts), dtype=object)
    train_seconds: list[float] = []
    details: dict[str, Any] = {}
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    classifier: IntentClassifier | None = None
    test_idx = np.arange(0)
    for train_idx, test_idx in splitter.split(np.zeros(len(texts)), label_array):
        started = time.perf_counter()
        classifier, report = train_classifier(
            [texts[int(i)] for i in train_idx],
            label_array[train_idx].tolist(),
            embedder,
            config,
            vectors=all_vectors[train_idx],
        )
        train_seconds.append(time.perf_counter() - started)
        details = report.details
        test_texts = [texts[int(i)] for i in test_idx]
        test_vectors = _held_out_vectors(classifier, test_texts, all_vectors[test_idx], embedder)
        probabilities = classifier.probabilities(test_texts, test_vectors)
        predicted[test_idx] = np.asarray(classifier.labels)[probabilities.argmax(axis=1)]
    assert classifier is not None
    return {
        "task": "intents",
        "examples": len(texts),
        "labels": len(set(labels)),
        "folds": folds,
        "encoder": details.get("encoder", ""),
        "accuracy": round(float(accuracy_score(label_array, predicted)), 4),
        "macro_f1": round(float(f1_score(label_array, predicted, average="macro")), 4),
        "train_seconds_per_fold": round(float(np.mean(train_seconds)), 1),
        "embed_seconds": round(embed_seconds, 1),
        "latency": measure_latency(classifier, [texts[int(i)] for i in test_idx], embedder),
    }


def load_clinc(path: Path) -> dict[str, list[tuple[str, str]]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return {
        split: [(str(text), str(intent)) for text, intent in data.get(split, [])]
        for split in ("train", "val", "oos_train", "oos_val")
    }


def out_of_scope_metrics(
    classifier: IntentClassifier, texts: Sequence[str], labels: Sequence[str], vectors: Vectors
) -> dict[str, Any]:
    probabilities = classifier.probabilities(texts, vectors)
    scores = classifier.scope_scores(probabilities, vectors)
    predictions = classifier.decide(probabilities, scores)
    is_oos = np.asarray([label == OOS_LABEL for label in labels])
    rejected = np.asarray([p.out_of_scope for p in predictions])
    right = np.asarray([p.label == label for p, label in zip(predictions, labels, strict=True)])
    metrics: dict[str, Any] = {
        "in_scope": int((~is_oos).sum()),
        "out_of_scope": int(is_oos.sum()),
        "in_scope_accuracy": round(float((right & ~rejected)[~is_oos].mean()), 4),
        "in_scope_top1_accuracy": round(float(right[~is_oos].mean()), 4),
        "in_scope_rejected": round(float(rejected[~is_oos].mean()), 4),
    }
    if is_oos.any():
        metrics["oos_recall"] = round(float(rejected[is_oos].mean()), 4)
        metrics["oos_precision"] = round(float(is_oos[rejected].mean()) if rejected.any() else 0, 4)
        metrics["auroc"] = round(float(roc_auc_score(is_oos, -scores)), 4)
    return metrics


def run_out_of_scope(
    path: Path,
    *,
    config: ClassifierConfig | None = None,
    embedder: Embedder | None = None,
    vectors: Vectors | None = None,
) -> dict[str, Any]:
    """Train on train + oos_train (which only sets the threshold), score val + oos_val at the
    threshold the classifier ships with. `vectors` (optional) embed train, val, oos_train,
    oos_val in that order."""
    embedder = embedder or _embedder()
    config = config or WORKSPACE_CONFIG
    splits = load_clinc(path)
    order = ("train", "val", "oos_train", "oos_val")
    texts = [text for split in order for text, _ in splits[split]]
    started = time.perf_counter()
    all_vectors = training_vectors(texts, embedder, config) if vectors is None else vectors
    embed_seconds = time.perf_counter() - started
    offsets = np.cumsum([0] + [len(splits[s]) for s in order])
    index = {s: np.arange(offsets[i], offsets[i + 1]) for i, s in enumerate(order)}
    train_idx = np.concatenate([index["train"], index["oos_train"]])
    test_idx = np.concatenate([index["val"], index["oos_val"]])
    labels = [label for split in order for _, label in splits[split]]
    started = time.perf_counter()
    classifier, report = train_classifier(
        [texts[int(i)] for i in train_idx],
        [labels[int(i)] for i in train_idx],
        embedder,
        config,
        vectors=all_vectors[train_idx],
    )
    train_seconds = time.perf_counter() - started
    test_texts = [texts[int(i)] for i in test_idx]
    test_vectors = _held_out_vectors(classifier, test_texts, all_vectors[test_idx], embedder)
    metrics = out_of_scope_metrics(
        classifier, test_texts, [labels[int(i)] for i in test_idx], test_vectors
    )
    return {
        "task": "oos",
        "train_examples": len(train_idx),
        "labels": len(classifier.labels),
        "threshold": classifier.threshold,
        "threshold_source": report.threshold_source,
        "encoder": report.details.get("encoder", ""),
        **metrics,
        "train_seconds": round(train_seconds, 1),
        "embed_seconds": round(embed_seconds, 1),
        "latency": measure_latency(classifier, test_texts, embedder),
    }


def format_report(report: dict[str, Any]) -> str:
    lines = []
    for key, value in report.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        lines.append(f"{key:<24} {value}")
    return "\n".join(lines)
