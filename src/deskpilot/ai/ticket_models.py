"""Ticket type, priority and the workspace's own category, with probabilities.

A new workspace has no labelled tickets, so type and priority come from default classifiers
trained on example tickets shipped with the code (data/example_tickets.csv). They are trained
the first time they are needed ("at first start"), then kept in memory for the process and on
disk under DATA_DIR/models/default/<key>/, where the key hashes the examples, the embedder and
the classifier format: a changed CSV or embedder trains new models, nothing else does. A file
lock lets one process train while the others wait and then load its artifacts.

A workspace overrides a default by training its own classifier named `type` or `priority`
(`deskpilot ai train --classifier type`); `category` (the workspace's intents) exists only when
the workspace trained one. The defaults never flag out of scope: every ticket has some type and
priority (`other` is the catch-all), so their confidence is what callers should weigh. A
category, in contrast, is out of scope when the ticket is like none of the workspace's intents.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import json
import logging
import os
import pickle
import shutil
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sqlalchemy.orm import Session
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from deskpilot.ai import classifier as classifier_module
from deskpilot.ai import classifiers
from deskpilot.ai.classifier import ClassifierConfig, IntentClassifier, train_classifier
from deskpilot.ai.embeddings import default_embedder, embedder_for, models_dir
from deskpilot.ai.models import AiClassifier
from deskpilot.ai.ports import Embedder, LabelPrediction, Vectors
from deskpilot.core.context import Context
from deskpilot.core.errors import NotFound
from deskpilot.db.scoped import scoped
from deskpilot.tickets.lifecycle import Priority, TicketType

log = logging.getLogger(__name__)

EXAMPLES_FILE = Path(__file__).parent / "data" / "example_tickets.csv"
# Bump when the artifact layout below changes (the classifier's own format is in the key too).
ARTIFACT_FORMAT = 1
# The fast path: no threshold calibration folds (the defaults never reject) and no fine-tuning.
DEFAULT_CONFIG = ClassifierConfig(calibration_folds=0)
TYPE, PRIORITY, CATEGORY = "type", "priority", "category"
ALLOWED_LABELS = {TYPE: {t.value for t in TicketType}, PRIORITY: {p.value for p in Priority}}
MAX_TEXT = 5_000


@dataclass(frozen=True)
class TicketExample:
    text: str
    type: str
    priority: str


@dataclass(frozen=True)
class DefaultTicketModels:
    type: IntentClassifier
    priority: IntentClassifier
    embedding_model: str
    key: str
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def model_name(self) -> str:
        return f"default@{self.key}"


@dataclass(frozen=True)
class TicketClassification:
    type: LabelPrediction
    priority: LabelPrediction
    category: LabelPrediction | None
    # Which model produced each field: "default@<key>" or "workspace:<name> v<version>".
    models: dict[str, str] = field(default_factory=dict)


def load_examples(path: Path = EXAMPLES_FILE) -> list[TicketExample]:
    with path.open(encoding="utf-8", newline="") as fh:
        return [TicketExample(r["text"], r["type"], r["priority"]) for r in csv.DictReader(fh)]


def ticket_text(subject: str, body: str) -> str:
    """What the classifiers read: the subject, then the body (as in the example tickets)."""
    return f"{subject.strip()}\n{body.strip()}".strip()[:MAX_TEXT]


def artifact_key(embedding_model: str, examples_file: Path = EXAMPLES_FILE) -> str:
    digest = hashlib.sha256(examples_file.read_bytes())
    digest.update(
        "|".join(
            [
                embedding_model,
                f"classifier-format={classifier_module.FORMAT_VERSION}",
                f"artifact-format={ARTIFACT_FORMAT}",
                repr(DEFAULT_CONFIG),
            ]
        ).encode()
    )
    return digest.hexdigest()[:16]


def train_defaults(
    embedder: Embedder, examples: Sequence[TicketExample], key: str = ""
) -> DefaultTicketModels:
    texts = [e.text for e in examples]
    vectors = embedder.embed(texts)
    # A fit this small is ~15x slower with BLAS threads fighting over busy cores (0.25 s vs 4 s
    # per model measured with two OpenBLAS threads on 2 loaded cores).
    with threadpool_limits(limits=1):
        type_model, _ = train_classifier(
            texts, [e.type for e in examples], embedder, DEFAULT_CONFIG, vectors=vectors
        )
        priority_model, _ = train_classifier(
            texts, [e.priority for e in examples], embedder, DEFAULT_CONFIG, vectors=vectors
        )
    metrics = {
        "examples": len(texts),
        "type_labels": type_model.labels,
        "priority_labels": priority_model.labels,
    }
    return DefaultTicketModels(type_model, priority_model, embedder.name, key, metrics)


# --- Disk artifacts -------------------------------------------------------------------------


def _acquire(fh: IO[str]) -> None:
    fcntl.flock(fh, fcntl.LOCK_EX)


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Exclusive across processes; the lock file stays (removing it would race a waiter)."""
    with path.open("a") as fh:
        _acquire(fh)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _load(directory: Path, embedder: Embedder, key: str) -> DefaultTicketModels | None:
    """The saved models, or None when absent or unreadable (then they are trained again)."""
    manifest = directory / "manifest.json"
    if not manifest.is_file():
        return None
    try:
        meta = json.loads(manifest.read_text(encoding="utf-8"))
        type_model = IntentClassifier.load(directory / "type.pkl")
        priority_model = IntentClassifier.load(directory / "priority.pkl")
    except (
        OSError,
        ValueError,
        EOFError,
        pickle.UnpicklingError,
        AttributeError,
        ImportError,
    ) as exc:
        log.warning("default ticket models in %s are unreadable, retraining: %s", directory, exc)
        return None
    if meta.get("embedding_model") != embedder.name:
        return None
    return DefaultTicketModels(type_model, priority_model, embedder.name, key, meta["metrics"])


def _save(models: DefaultTicketModels, directory: Path) -> None:
    """Write into a scratch folder and rename it into place, so readers see all or nothing."""
    scratch = directory.with_name(f".{directory.name}.{os.getpid()}.tmp")
    shutil.rmtree(scratch, ignore_errors=True)
    models.type.save(scratch / "type.pkl")
    models.priority.save(scratch / "priority.pkl")
    manifest = {"embedding_model": models.embedding_model, "metrics": models.metrics}
    (scratch / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    shutil.rmtree(directory, ignore_errors=True)  # an unreadable earlier copy
    scratch.rename(directory)


def _load_or_train(embedder: Embedder, key: str) -> DefaultTicketModels:
    root = models_dir() / "default"
    directory = root / key
    models = _load(directory, embedder, key)
    if models is not None:
        return models
    root.mkdir(parents=True, exist_ok=True)
    with _file_lock(root / f"{key}.lock"):
        # Another process may have trained them while this one waited for the lock.
        models = _load(directory, embedder, key)
        if models is None:
            log.info("training the default ticket type/priority models (%s)", key)
            models = train_defaults(embedder, load_examples(), key)
            _save(models, directory)
    return models


# --- Per-process cache ----------------------------------------------------------------------


class _Memory:
    def __init__(self) -> None:
        self.models: dict[str, DefaultTicketModels] = {}
        # Held while loading or training, so one thread of a process does it.
        self.lock = threading.Lock()


_memory = _Memory()


def default_ticket_models(embedder: Embedder | None = None) -> DefaultTicketModels:
    """The default type and priority models for `embedder` (the built-in one when None):
    from memory, else from DATA_DIR/models/default, else trained there now (seconds)."""
    embedder = embedder or default_embedder()
    key = artifact_key(embedder.name)
    with _memory.lock:
        models = _memory.models.get(key)
        if models is None:
            models = _load_or_train(embedder, key)
            _memory.models[key] = models
    return models


def warm_up(embedder: Embedder | None = None) -> DefaultTicketModels:
    """Train or load the defaults now, so the first ticket is not the one that waits."""
    return default_ticket_models(embedder)


def forget() -> None:
    """Drop the in-memory models (tests; the disk artifacts stay)."""
    with _memory.lock:
        _memory.models.clear()


# --- Classifying a ticket -------------------------------------------------------------------


class _Vectors:
    """Embeds each text once per embedder, however many classifiers read it."""

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.by_model: dict[str, Vectors] = {}

    def get(self, embedder: Embedder) -> Vectors:
        if embedder.name not in self.by_model:
            self.by_model[embedder.name] = embedder.embed(self.texts)
        return self.by_model[embedder.name]


def _label_prediction(
    model: IntentClassifier, embedder: Embedder, vectors: _Vectors, *, may_reject: bool
) -> LabelPrediction:
    # A classifier with its own fine-tuned encoder embeds for itself; frozen ones share.
    if model.encoder is not None:
        computed = model.embed(vectors.texts, embedder)
    else:
        computed = vectors.get(embedder)
    prediction = model.predict_vectors(vectors.texts, computed)[0]
    row = model.probabilities(vectors.texts, computed)[0]
    return LabelPrediction(
        label=prediction.label,
        confidence=prediction.confidence,
        out_of_scope=prediction.out_of_scope and may_reject,
        probabilities={
            label: round(float(p), 6) for label, p in zip(model.labels, row, strict=True)
        },
    )


def _newest(session: Session, ctx: Context, name: str) -> AiClassifier | None:
    stmt = scoped(ctx, AiClassifier).where(AiClassifier.name == name)
    return session.scalars(stmt.order_by(AiClassifier.version.desc()).limit(1)).first()


def _workspace_model(
    session: Session, ctx: Context, name: str
) -> tuple[AiClassifier, IntentClassifier] | None:
    """The newest version of the workspace's classifier `name`, if it has a usable one."""
    row = _newest(session, ctx, name)
    if row is None:
        return None
    allowed = ALLOWED_LABELS.get(name)
    if allowed is not None and not set(row.labels) <= allowed:
        log.warning(
            "workspace %s classifier %r v%s has labels outside %s; using the default",
            ctx.workspace_id,
            name,
            row.version,
            sorted(allowed),
        )
        return None
    try:
        return row, classifiers.load_model(row)
    except NotFound:
        log.warning(
            "workspace %s classifier %r v%s has no model file", ctx.workspace_id, name, row.version
        )
        return None


def classify_ticket(
    session: Session,
    ctx: Context,
    subject: str,
    body: str,
    *,
    embedder: Embedder | None = None,
) -> TicketClassification:
    """Type and priority (the workspace's own classifiers when it trained them, else the
    defaults) and the workspace's category (None when it has no `category` classifier)."""
    embedder = embedder or default_embedder()
    vectors = _Vectors([ticket_text(subject, body)])
    models: dict[str, str] = {}

    def workspace_prediction(name: str) -> LabelPrediction | None:
        found = _workspace_model(session, ctx, name)
        if found is None:
            return None
        row, model = found
        models[name] = f"workspace:{name} v{row.version}"
        embedder_of_row = embedder_for(row.embedding_model)
        return _label_prediction(model, embedder_of_row, vectors, may_reject=True)

    def type_or_priority(name: str) -> LabelPrediction:
        own = workspace_prediction(name)
        if own is not None:
            return own
        defaults = default_ticket_models(embedder)
        models[name] = defaults.model_name
        model = defaults.type if name == TYPE else defaults.priority
        return _label_prediction(model, embedder, vectors, may_reject=False)

    return TicketClassification(
        type=type_or_priority(TYPE),
        priority=type_or_priority(PRIORITY),
        category=workspace_prediction(CATEGORY),
        models=models,
    )


def as_json(classification: TicketClassification) -> dict[str, Any]:
    """What `Ticket.ai_classification` stores: label, confidence, out_of_scope and model."""

    def entry(name: str, prediction: LabelPrediction | None) -> dict[str, Any] | None:
        if prediction is None:
            return None
        return {
            "label": prediction.label,
            "confidence": prediction.confidence,
            "out_of_scope": prediction.out_of_scope,
            "model": classification.models.get(name, ""),
        }

    return {
        TYPE: entry(TYPE, classification.type),
        PRIORITY: entry(PRIORITY, classification.priority),
        CATEGORY: entry(CATEGORY, classification.category),
    }


# --- Quality ----------------------------------------------------------------------------------


def _accuracy(
    models: DefaultTicketModels, examples: Sequence[TicketExample], embedder: Embedder
) -> dict[str, float]:
    texts = [e.text for e in examples]
    vectors = embedder.embed(texts)
    scores = {}
    for name, model, truth in (
        (TYPE, models.type, [e.type for e in examples]),
        (PRIORITY, models.priority, [e.priority for e in examples]),
    ):
        predicted = [p.label for p in model.predict_vectors(texts, vectors)]
        scores[name] = sum(p == t for p, t in zip(predicted, truth, strict=True)) / len(truth)
    return scores


def evaluate_defaults(
    embedder: Embedder, heldout: Sequence[TicketExample] = (), *, folds: int = 5
) -> dict[str, Any]:
    """Type and priority accuracy of the defaults: stratified k-fold (by type) on the shipped
    examples, and on `heldout` tickets with models trained on all of them."""
    from sklearn.model_selection import StratifiedKFold

    examples = load_examples()
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    right = {TYPE: 0.0, PRIORITY: 0.0}
    for train_idx, test_idx in splitter.split(examples, [e.type for e in examples]):
        fold = train_defaults(embedder, [examples[int(i)] for i in train_idx])
        scores = _accuracy(fold, [examples[int(i)] for i in test_idx], embedder)
        for name in right:
            right[name] += scores[name] * len(test_idx)
    report: dict[str, Any] = {
        "embedding_model": embedder.name,
        "examples": len(examples),
        "cross_validated": {name: round(n / len(examples), 4) for name, n in right.items()},
    }
    if heldout:
        scores = _accuracy(train_defaults(embedder, examples), heldout, embedder)
        report["heldout"] = {name: round(s, 4) for name, s in scores.items()}
        report["heldout_examples"] = len(heldout)
    return report
