"""Intent classification: sentence embeddings plus TF-IDF, a regularised linear model, and a
calibrated out-of-scope threshold on an in-scope score.

The embedding carries meaning ("card got stuck" ~ "ATM kept my card"); word and character n-grams
carry the exact product words and typos the frozen embedder blurs. Both go into one L2-regularised
logistic regression, whose probabilities are the confidence. The in-scope score mixes that top
probability with the cosine to the nearest class centroid in embedding space: the probability
alone is often high for unrelated texts (it only compares the known classes), while the distance
to every class says "nothing like what we were trained on" (CLINC150 val AUROC 0.96 -> 0.985).
A text is out of scope when its score is below the threshold, chosen on data the model never
trained on: examples labelled `oos` when the training set has them, else cross-validated in-scope
predictions.

With `tuning` set (and the built-in MiniLM as the embedder), the encoder itself is first
fine-tuned on the training texts (`intent_tuning.py`) and becomes part of the classifier: the
features, centroids and predictions all use the tuned encoder, and the threshold is calibrated
on a held-out share of the in-scope examples that the encoder never saw.
"""

from __future__ import annotations

import math
import pickle
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import sklearn
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from deskpilot.ai.embeddings import BUILTIN_MODEL, builtin_model_path
from deskpilot.ai.intent_tuning import ClassifierEncoder, TuningConfig, fine_tune
from deskpilot.ai.ports import Embedder, Vectors

OOS_LABEL = "oos"
FORMAT_VERSION = 1
Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ClassifierConfig:
    c: float = 10.0
    embedding_weight: float = 1.0
    use_tfidf: bool = True
    max_iter: int = 300
    # Without `oos` examples: reject at most this share of in-scope texts (cross-validated).
    in_scope_reject_rate: float = 0.03
    calibration_folds: int = 3
    # Weight of the top probability in the in-scope score (the rest is the centroid cosine).
    probability_weight: float = 0.2
    # Share of the probability from a vote of the nearest training examples (cosine, softmax
    # weighted): it catches intents whose examples form several tight groups, which a linear
    # model splits poorly (BANKING77 fold: 0.9235 -> 0.9325).
    neighbour_weight: float = 0.0
    neighbours: int = 5
    neighbour_temperature: float = 20.0
    # With the built-in MiniLM embedder only: the classifier runs its own int8 copy of the
    # encoder (2.5x faster than float, the single-ticket latency budget) ...
    own_encoder: bool = False
    # ... fine-tuned on its examples first when set (None: frozen, fast).
    tuning: TuningConfig | None = None
    # With tuning: the share of in-scope examples held out of fine-tuning to set the threshold.
    calibration_holdout: float = 0.1
    # With `oos` examples: the threshold is the lowest that rejects this share of them (held
    # out), keeping as many in-scope texts as that allows. None: the cut maximising kept-right
    # in-scope share + rejected oos share, which with 100 oos examples against thousands of
    # in-scope ones trades ~15 in-scope texts for each oos one.
    oos_recall_target: float | None = None


# What workspaces and the evals train with.
WORKSPACE_CONFIG = ClassifierConfig(neighbour_weight=0.3, own_encoder=True)
# The same with the encoder fine-tuned on the examples (minutes on 2 CPU cores; see docs/ai.md).
# Its held-out in-scope scores sit higher than on new texts, so the accuracy + recall rule
# rejects too much (CLINC150 val: 10.6% of in-scope); a recall target does not depend on them.
TUNED_CONFIG = ClassifierConfig(
    neighbour_weight=0.3, own_encoder=True, tuning=TuningConfig(), oos_recall_target=0.95
)


@dataclass(frozen=True)
class Prediction:
    label: str
    confidence: float
    out_of_scope: bool


@dataclass
class TrainingReport:
    examples: int
    labels: int
    oos_examples: int
    threshold: float
    threshold_source: str
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Featurizer:
    """Embedding (dense, L2-normalised) side by side with word and char TF-IDF (sparse)."""

    def __init__(self, config: ClassifierConfig) -> None:
        self.embedding_weight = config.embedding_weight
        self.word: TfidfVectorizer | None = None
        self.char: TfidfVectorizer | None = None
        if config.use_tfidf:
            self.word = TfidfVectorizer(
                ngram_range=(1, 2), sublinear_tf=True, min_df=1, lowercase=True
            )
            self.char = TfidfVectorizer(
                analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2
            )

    def fit_transform(self, texts: Sequence[str], vectors: Vectors) -> sparse.csr_matrix:
        parts: list[Any] = [sparse.csr_matrix(vectors * self.embedding_weight)]
        if self.word is not None and self.char is not None:
            parts.append(self.word.fit_transform(texts))
            parts.append(self.char.fit_transform(texts))
        return sparse.hstack(parts, format="csr")

    def transform(self, texts: Sequence[str], vectors: Vectors) -> sparse.csr_matrix:
        parts: list[Any] = [sparse.csr_matrix(vectors * self.embedding_weight)]
        if self.word is not None and self.char is not None:
            parts.append(self.word.transform(texts))
            parts.append(self.char.transform(texts))
        return sparse.hstack(parts, format="csr")


class IntentClassifier:
    """A trained model: call `predict` with texts and the embedder it was trained with (which a
    classifier with its own tuned encoder ignores)."""

    # Class attributes, so artifacts pickled before these existed still load.
    encoder: ClassifierEncoder | None = None
    neighbour_vectors: Vectors | None = None
    neighbour_labels: npt.NDArray[np.intp] | None = None
    neighbour_weight = 0.0
    neighbours = 5
    neighbour_temperature = 20.0

    def __init__(
        self,
        featurizer: Featurizer,
        model: LogisticRegression,
        labels: list[str],
        *,
        centroids: Vectors,
        probability_weight: float,
        embedding_model: str = "",
        threshold: float = 0.0,
    ) -> None:
        self.featurizer = featurizer
        self.model = model
        self.labels = labels
        self.centroids = centroids
        self.probability_weight = probability_weight
        self.embedding_model = embedding_model
        self.threshold = threshold

    def embed(self, texts: Sequence[str], embedder: Embedder) -> Vectors:
        """The vectors `probabilities` and `scope_scores` expect: from the classifier's own
        tuned encoder when it has one, else from `embedder`."""
        if self.encoder is not None:
            return self.encoder.embed(texts)
        return embedder.embed(texts)

    def probabilities(self, texts: Sequence[str], vectors: Vectors) -> Floats:
        # Our own fitted estimators and finite inputs: skip sklearn's per-call checks, which
        # cost more than the arithmetic on one ticket.
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            features = self.featurizer.transform(texts, vectors)
            linear = np.asarray(self.model.predict_proba(features), dtype=np.float64)
        if self.neighbour_weight <= 0 or self.neighbour_vectors is None:
            return linear
        weight = self.neighbour_weight
        return (1 - weight) * linear + weight * self.neighbour_vote(vectors)

    def _neighbour_matrix(self) -> Vectors:
        """The stored (float16) training vectors as float32, converted once per process."""
        cached: Vectors | None = self.__dict__.get("_neighbours_f32")
        if cached is None:
            assert self.neighbour_vectors is not None
            cached = np.ascontiguousarray(self.neighbour_vectors, dtype=np.float32)
            self.__dict__["_neighbours_f32"] = cached
        return cached

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_neighbours_f32"}

    def neighbour_vote(self, vectors: Vectors) -> Floats:
        """Per label, the softmax-weighted share of the nearest training examples' votes."""
        assert self.neighbour_labels is not None
        similarity = np.asarray(vectors.astype(np.float32) @ self._neighbour_matrix().T)
        k = min(self.neighbours, similarity.shape[1])
        nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        rows = np.arange(len(vectors))[:, None]
        top = similarity[rows, nearest]
        weights = np.exp(self.neighbour_temperature * (top - top.max(axis=1, keepdims=True)))
        votes = np.zeros((len(vectors), len(self.labels)))
        np.add.at(
            votes, (np.broadcast_to(rows, nearest.shape), self.neighbour_labels[nearest]), weights
        )
        return np.asarray(votes / votes.sum(axis=1, keepdims=True))

    def scope_scores(self, probabilities: Floats, vectors: Vectors) -> Floats:
        """Higher means more like the training data; compared with the threshold."""
        nearest = np.asarray(vectors @ self.centroids.T, dtype=np.float64).max(axis=1)
        weight = self.probability_weight
        return np.asarray(weight * probabilities.max(axis=1) + (1 - weight) * nearest)

    def decide(
        self, probabilities: Floats, scores: Floats, threshold: float | None = None
    ) -> list[Prediction]:
        cut = self.threshold if threshold is None else threshold
        best = probabilities.argmax(axis=1)
        return [
            Prediction(
                label=self.labels[int(i)],
                confidence=round(float(probabilities[row, i]), 6),
                out_of_scope=bool(scores[row] < cut),
            )
            for row, i in enumerate(best)
        ]

    def predict_vectors(self, texts: Sequence[str], vectors: Vectors) -> list[Prediction]:
        probabilities = self.probabilities(texts, vectors)
        return self.decide(probabilities, self.scope_scores(probabilities, vectors))

    def predict(self, texts: Sequence[str], embedder: Embedder) -> list[Prediction]:
        if not texts:
            return []
        return self.predict_vectors(texts, self.embed(texts, embedder))

    @staticmethod
    def encoder_directory(path: Path) -> Path:
        """Where the tuned encoder of the artifact at `path` lives (beside it)."""
        return path.with_suffix(".encoder")

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if self.encoder is not None:
            self.encoder.save(self.encoder_directory(path))
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as fh:
            pickle.dump({"format": FORMAT_VERSION, "classifier": self}, fh)
        tmp.replace(path)

    @staticmethod
    def load(path: Path) -> IntentClassifier:
        # Artifacts are written only by `save` under DATA_DIR, never uploaded by users.
        with path.open("rb") as fh:
            payload = pickle.load(fh)  # noqa: S301
        if payload.get("format") != FORMAT_VERSION:
            raise ValueError(f"unsupported classifier artifact format in {path}")
        classifier = payload["classifier"]
        if not isinstance(classifier, IntentClassifier):
            raise ValueError(f"{path} does not hold a classifier")
        if classifier.encoder is not None:
            classifier.encoder.attach(IntentClassifier.encoder_directory(path))
        return classifier


def class_centroids(vectors: Vectors, labels: npt.NDArray[Any], classes: Sequence[str]) -> Vectors:
    centroids = np.vstack([vectors[labels == label].mean(axis=0) for label in classes])
    norms = np.linalg.norm(centroids, axis=1, keepdims=True)
    return (centroids / np.where(norms == 0, 1.0, norms)).astype(np.float32)


def _fit(
    texts: Sequence[str], vectors: Vectors, labels: npt.NDArray[Any], config: ClassifierConfig
) -> IntentClassifier:
    """A classifier with no threshold yet (every text in scope)."""
    classes = sorted(set(labels.tolist()))
    featurizer = Featurizer(config)
    model = LogisticRegression(C=config.c, max_iter=config.max_iter, tol=1e-3)
    model.fit(featurizer.fit_transform(texts, vectors), labels)
    if list(model.classes_) != classes:
        raise RuntimeError("unexpected class order from the linear model")
    classifier = IntentClassifier(
        featurizer,
        model,
        classes,
        centroids=class_centroids(vectors, labels, classes),
        probability_weight=config.probability_weight,
    )
    if config.neighbour_weight > 0:
        index = {label: i for i, label in enumerate(classes)}
        # float16 halves the artifact; cosines move by ~1e-3, votes do not.
        classifier.neighbour_vectors = np.asarray(vectors, dtype=np.float16)
        classifier.neighbour_labels = np.asarray([index[x] for x in labels], dtype=np.intp)
        classifier.neighbour_weight = config.neighbour_weight
        classifier.neighbours = config.neighbours
        classifier.neighbour_temperature = config.neighbour_temperature
    return classifier


def _scores(classifier: IntentClassifier, texts: Sequence[str], vectors: Vectors) -> Floats:
    if not texts:
        return np.zeros(0)
    return classifier.scope_scores(classifier.probabilities(texts, vectors), vectors)


def best_threshold(
    in_scope_scores: Floats, in_scope_correct: npt.NDArray[np.bool_], oos_scores: Floats
) -> float:
    """The cut maximising in-scope accuracy (kept and right) + out-of-scope recall."""
    candidates = np.unique(np.concatenate([in_scope_scores, oos_scores, [0.0]]))
    best_cut, best_value = 0.0, -1.0
    for cut in candidates:
        kept_right = float(((in_scope_scores >= cut) & in_scope_correct).mean())
        value = kept_right + float((oos_scores < cut).mean())
        if value > best_value:
            best_cut, best_value = float(cut), value
    return best_cut


def recall_threshold(oos_scores: Floats, target: float) -> float:
    """The lowest cut that puts at least `target` of the out-of-scope scores below it."""
    ordered = np.sort(oos_scores)
    needed = min(len(ordered), max(1, math.ceil(target * len(ordered) - 1e-9)))
    return float(np.nextafter(ordered[needed - 1], np.inf))


def _cross_validated_scores(
    texts: Sequence[str],
    vectors: Vectors,
    labels: npt.NDArray[Any],
    config: ClassifierConfig,
    oos_texts: Sequence[str],
    oos_vectors: Vectors,
) -> tuple[Floats, npt.NDArray[np.bool_], Floats]:
    """In-scope score and correctness of every in-scope example, predicted by a model that did
    not see it, and the fold models' mean score of the out-of-scope examples (so both sides of
    the threshold come from equally trained models)."""
    _, counts = np.unique(labels, return_counts=True)
    folds = min(config.calibration_folds, int(counts.min()))
    scores = np.zeros(len(texts))
    correct = np.zeros(len(texts), dtype=bool)
    oos_scores = np.zeros(len(oos_texts))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    for train_idx, test_idx in splitter.split(np.zeros(len(texts)), labels):
        fold = _fit([texts[i] for i in train_idx], vectors[train_idx], labels[train_idx], config)
        probabilities = fold.probabilities([texts[i] for i in test_idx], vectors[test_idx])
        scores[test_idx] = fold.scope_scores(probabilities, vectors[test_idx])
        predicted = np.asarray(fold.labels)[probabilities.argmax(axis=1)]
        correct[test_idx] = predicted == labels[test_idx]
        oos_scores += _scores(fold, oos_texts, oos_vectors) / folds
    return scores, correct, oos_scores


def can_tune(embedder: Embedder) -> bool:
    """Only the built-in MiniLM has weights here to run or fine-tune (tests' fakes and adapted
    KB models use the embedder they are given)."""
    return embedder.name == BUILTIN_MODEL


def _owns_encoder(embedder: Embedder, config: ClassifierConfig) -> bool:
    return (config.own_encoder or config.tuning is not None) and can_tune(embedder)


def _base_encoder() -> ClassifierEncoder:
    return ClassifierEncoder(builtin_model_path(), tuned=False, quantize=True)


def training_vectors(texts: Sequence[str], embedder: Embedder, config: ClassifierConfig) -> Vectors:
    """What `train_classifier(texts, ..., vectors=)` expects: the embedding the classifier will
    use untuned (its own int8 encoder, or `embedder`'s)."""
    if _owns_encoder(embedder, config):
        return _base_encoder().embed(texts)
    return embedder.embed(list(texts))


def train_classifier(
    texts: Sequence[str],
    labels: Sequence[str],
    embedder: Embedder,
    config: ClassifierConfig | None = None,
    *,
    vectors: Vectors | None = None,
) -> tuple[IntentClassifier, TrainingReport]:
    """Fit on every in-scope example and calibrate the out-of-scope threshold.

    Examples labelled `oos` never become a class: they calibrate the threshold. `vectors` are
    `training_vectors(texts, embedder, config)`, when the caller already has them.
    """
    config = config or ClassifierConfig()
    if len(texts) != len(labels):
        raise ValueError("texts and labels differ in length")
    all_vectors = training_vectors(texts, embedder, config) if vectors is None else vectors
    label_array = np.asarray(labels)
    in_scope = np.flatnonzero(label_array != OOS_LABEL)
    oos = np.flatnonzero(label_array == OOS_LABEL)
    in_labels = label_array[in_scope]
    classes, counts = np.unique(in_labels, return_counts=True)
    if len(classes) < 2:
        raise ValueError("a classifier needs at least two labels besides `oos`")
    calibrate = config.calibration_folds >= 2 and int(counts.min()) >= 2
    if config.tuning is not None and can_tune(embedder):
        classifier, threshold, source, details = _train_tuned(
            list(texts), label_array, all_vectors, config, config.tuning, calibrate=calibrate
        )
    else:
        classifier, threshold, source, details = _train_frozen(
            list(texts), label_array, all_vectors, config, calibrate=calibrate
        )
        if _owns_encoder(embedder, config):
            classifier.encoder = _base_encoder()
    if classifier.encoder is not None:
        details["encoder"] = f"{embedder.name} {classifier.encoder.description}"
    classifier.threshold = math.floor(threshold * 1e6) / 1e6
    classifier.embedding_model = embedder.name
    report = TrainingReport(
        examples=len(in_scope),
        labels=len(classes),
        oos_examples=len(oos),
        threshold=classifier.threshold,
        threshold_source=source,
        details=details,
    )
    return classifier, report


def _threshold(
    scores: Floats,
    correct: npt.NDArray[np.bool_],
    oos_scores: Floats,
    config: ClassifierConfig,
    held_out_by: str,
) -> tuple[float, str]:
    if len(oos_scores) and config.oos_recall_target is not None:
        cut = recall_threshold(oos_scores, config.oos_recall_target)
        return cut, f"held-out oos examples ({config.oos_recall_target:.0%} rejected)"
    if len(oos_scores):
        return best_threshold(scores, correct, oos_scores), "held-out oos examples"
    rate = config.in_scope_reject_rate
    return float(np.quantile(scores, rate)), f"{rate:.0%} in-scope rejection ({held_out_by})"


def _train_frozen(
    texts: list[str],
    labels: npt.NDArray[Any],
    vectors: Vectors,
    config: ClassifierConfig,
    *,
    calibrate: bool,
) -> tuple[IntentClassifier, float, str, dict[str, Any]]:
    in_scope = np.flatnonzero(labels != OOS_LABEL)
    oos = np.flatnonzero(labels == OOS_LABEL)
    in_texts = [texts[int(i)] for i in in_scope]
    classifier = _fit(in_texts, vectors[in_scope], labels[in_scope], config)
    details: dict[str, Any] = {"encoder": "frozen"}
    if not calibrate:
        return classifier, 0.0, "not calibrated (no rejection)", details
    scores, correct, oos_scores = _cross_validated_scores(
        in_texts,
        vectors[in_scope],
        labels[in_scope],
        config,
        [texts[int(i)] for i in oos],
        vectors[oos],
    )
    details["cv_accuracy"] = round(float(correct.mean()), 4)
    threshold = _threshold(scores, correct, oos_scores, config, "cross-validated")
    return classifier, *threshold, details


def _calibration_split(
    labels: npt.NDArray[Any], share: float, seed: int
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Positions to tune on and positions held out: `share` of each label (at least one, and
    never a label's last example), so every label is both tuned and calibrated on."""
    rng = np.random.default_rng(seed)
    held: list[int] = []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        take = min(len(members) - 1, max(1, round(share * len(members))))
        held += members[:take].tolist()
    held_out = np.sort(np.asarray(held, dtype=np.intp))
    kept = np.setdiff1d(np.arange(len(labels)), held_out).astype(np.intp)
    return kept, held_out


def _train_tuned(
    texts: list[str],
    labels: npt.NDArray[Any],
    frozen: Vectors,
    config: ClassifierConfig,
    tuning: TuningConfig,
    *,
    calibrate: bool,
) -> tuple[IntentClassifier, float, str, dict[str, Any]]:
    """Fine-tune the encoder (without the calibration share), embed everything with it, and fit
    the head; the threshold comes from the held-out share and the `oos` examples, scored by a
    head that did not see them either."""
    in_scope = np.flatnonzero(labels != OOS_LABEL)
    oos = np.flatnonzero(labels == OOS_LABEL)
    in_labels = labels[in_scope]
    if calibrate:
        tune_part, held_part = _calibration_split(in_labels, config.calibration_holdout, 0)
    else:
        tune_part, held_part = np.arange(len(in_scope)), np.arange(0)
    tune_idx, held_idx = in_scope[tune_part], in_scope[held_part]
    started = time.perf_counter()
    model = fine_tune(
        builtin_model_path(),
        [texts[int(i)] for i in tune_idx],
        labels[tune_idx].tolist(),
        tuning,
        initial_vectors=frozen[tune_idx],
    )
    details: dict[str, Any] = {
        "tuned_on": len(tune_idx),
        "tune_seconds": round(time.perf_counter() - started, 1),
    }
    encoder = ClassifierEncoder.from_tuned(model, tuning)
    vectors = encoder.embed(texts)
    in_texts = [texts[int(i)] for i in in_scope]
    classifier = _fit(in_texts, vectors[in_scope], in_labels, config)
    classifier.encoder = encoder
    if not calibrate:
        return classifier, 0.0, "not calibrated (no rejection)", details
    held_out_head = _fit(
        [texts[int(i)] for i in tune_idx], vectors[tune_idx], labels[tune_idx], config
    )
    held_texts = [texts[int(i)] for i in held_idx]
    probabilities = held_out_head.probabilities(held_texts, vectors[held_idx])
    scores = held_out_head.scope_scores(probabilities, vectors[held_idx])
    predicted = np.asarray(held_out_head.labels)[probabilities.argmax(axis=1)]
    correct = predicted == labels[held_idx]
    oos_scores = _scores(held_out_head, [texts[int(i)] for i in oos], vectors[oos])
    details["held_out_accuracy"] = round(float(correct.mean()), 4)
    threshold = _threshold(scores, correct, oos_scores, config, "held out of tuning")
    return classifier, *threshold, details
