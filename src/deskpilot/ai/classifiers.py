"""Per-workspace intent classifiers: train a new version, list them, predict with the newest.

Each training run adds a version; the row records labels, metrics and the out-of-scope threshold,
and the weights go to DATA_DIR/models/classifiers/ws<id>/<name>/v<version>.pkl (the row stores the
path relative to the models folder, so DATA_DIR can move), with the version's fine-tuned encoder
in v<version>.encoder/ beside it. Loaded models (and their encoders) are cached per artifact.

With the built-in embedder a classifier runs its own int8 copy of MiniLM (shared in memory by
all classifiers); `TUNED_CONFIG` fine-tunes it per classifier (minutes on 2 CPU cores: a job for
the CLI or a background worker).
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from deskpilot.ai.classifier import (
    OOS_LABEL,
    WORKSPACE_CONFIG,
    ClassifierConfig,
    IntentClassifier,
    Prediction,
    train_classifier,
)
from deskpilot.ai.embeddings import default_embedder, embedder_for, models_dir
from deskpilot.ai.models import AiClassifier
from deskpilot.ai.ports import Embedder
from deskpilot.core.context import Context
from deskpilot.core.errors import Conflict, NotFound, ValidationFailed
from deskpilot.db.scoped import get_scoped, scoped
from deskpilot.idempotency import service as idempotency

NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,99}$")
MAX_EXAMPLES = 50_000
MAX_TEXT = 5_000
MAX_LABEL = 200
MIN_PER_LABEL = 2
CACHED_MODELS = 8


@dataclass(frozen=True)
class Example:
    text: str
    label: str


class _Cache:
    def __init__(self) -> None:
        self.models: OrderedDict[Path, IntentClassifier] = OrderedDict()
        self.lock = threading.Lock()


_cache = _Cache()


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, details=[{"field": field, "message": message}])


def validate_examples(name: str, examples: Sequence[Example]) -> None:
    if not NAME_RE.match(name):
        raise _invalid("name", "start with a letter; 1-100 lowercase letters, digits, '-' or '_'")
    if len(examples) > MAX_EXAMPLES:
        raise _invalid("examples", f"at most {MAX_EXAMPLES} examples")
    counts: dict[str, int] = {}
    for index, example in enumerate(examples):
        if not example.text.strip() or len(example.text) > MAX_TEXT:
            raise _invalid(f"examples.{index}.text", f"must be 1-{MAX_TEXT} characters")
        if not example.label.strip() or len(example.label) > MAX_LABEL:
            raise _invalid(f"examples.{index}.label", f"must be 1-{MAX_LABEL} characters")
        counts[example.label] = counts.get(example.label, 0) + 1
    in_scope = {label: n for label, n in counts.items() if label != OOS_LABEL}
    if len(in_scope) < 2:
        raise _invalid("examples", f"need at least two labels besides {OOS_LABEL!r}")
    sparse_labels = sorted(label for label, n in in_scope.items() if n < MIN_PER_LABEL)
    if sparse_labels:
        shown = ", ".join(repr(label) for label in sparse_labels[:5])
        raise _invalid("examples", f"every label needs {MIN_PER_LABEL}+ examples: {shown}")


def train(
    session: Session,
    ctx: Context,
    name: str,
    examples: Sequence[Example],
    *,
    embedder: Embedder | None = None,
    config: ClassifierConfig | None = None,
    idempotency_key: str | None = None,
) -> tuple[AiClassifier, bool]:
    """Train and record the next version of `name` (slow: seconds to minutes); the flag says
    whether it is new (False: a replayed Idempotency-Key, the first version it created).
    `config` defaults to `WORKSPACE_CONFIG`."""
    ctx.require_admin()
    validate_examples(name, examples)
    embedder = embedder or default_embedder()
    started = time.perf_counter()
    classifier, report = train_classifier(
        [e.text for e in examples],
        [e.label for e in examples],
        embedder,
        config or WORKSPACE_CONFIG,
    )
    # Claimed after training, so no write lock is held meanwhile; a replay wastes the training
    # but never adds a version.
    claim = idempotency.claim(
        session,
        ctx,
        scope="ai.classifiers.train",
        key=idempotency_key,
        payload={"name": name, "examples": [[e.text, e.label] for e in examples]},
    )
    if claim.existing_id is not None:
        return get_scoped(session, ctx, AiClassifier, claim.existing_id, what="classifier"), False
    version = (
        session.scalar(
            select(func.max(AiClassifier.version)).where(
                AiClassifier.workspace_id == ctx.workspace_id, AiClassifier.name == name
            )
        )
        or 0
    ) + 1
    relative = Path("classifiers") / f"ws{ctx.workspace_id}" / name / f"v{version}.pkl"
    row = AiClassifier(
        workspace_id=ctx.workspace_id,
        name=name,
        version=version,
        labels=classifier.labels,
        metrics=report.as_dict() | {"train_seconds": round(time.perf_counter() - started, 2)},
        threshold=classifier.threshold,
        artifact_path=relative.as_posix(),
        embedding_model=classifier.embedding_model,
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(f"classifier {name!r} version {version} was trained concurrently") from exc
    claim.bind(row.id)
    classifier.save(models_dir() / relative)
    return row, True


def list_classifiers(session: Session, ctx: Context) -> list[AiClassifier]:
    ctx.require_staff()
    stmt = scoped(ctx, AiClassifier).order_by(AiClassifier.name, AiClassifier.version.desc())
    return list(session.scalars(stmt))


def latest(session: Session, ctx: Context, name: str) -> AiClassifier:
    ctx.require_staff()
    row = session.scalars(
        scoped(ctx, AiClassifier)
        .where(AiClassifier.name == name)
        .order_by(AiClassifier.version.desc())
        .limit(1)
    ).first()
    if row is None:
        raise NotFound(f"classifier {name!r} not found")
    return row


def load_model(row: AiClassifier) -> IntentClassifier:
    path = models_dir() / row.artifact_path
    with _cache.lock:
        cached = _cache.models.get(path)
        if cached is not None:
            _cache.models.move_to_end(path)
            return cached
    if not path.is_file():
        raise NotFound(f"classifier {row.name!r} v{row.version} has no model file; retrain it")
    model = IntentClassifier.load(path)
    with _cache.lock:
        _cache.models[path] = model
        while len(_cache.models) > CACHED_MODELS:
            _cache.models.popitem(last=False)
    return model


def predict(session: Session, ctx: Context, name: str, texts: Sequence[str]) -> list[Prediction]:
    """Label each text with the newest version of `name`; low confidence means out of scope."""
    row = latest(session, ctx, name)
    return load_model(row).predict(texts, embedder_for(row.embedding_model))
