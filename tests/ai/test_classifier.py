"""The intent classifier model: labels, confidence, the out-of-scope threshold, persistence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deskpilot.ai.classifier import (
    ClassifierConfig,
    IntentClassifier,
    recall_threshold,
    train_classifier,
)
from tests.fakes import HashingEmbedder

TOPICS = {
    "refund": ["refund", "money back", "charged twice", "reimburse", "return payment"],
    "password": ["password", "reset login", "locked out", "forgot credentials", "sign in"],
    "shipping": ["delivery", "parcel late", "tracking number", "courier", "shipment"],
}
FILLERS = ["please help with", "I need", "question about", "urgent:", "hello, my"]
OUT_OF_SCOPE = [
    "what is the weather tomorrow",
    "play some jazz music",
    "tell me a joke about cats",
    "how tall is mount everest",
    "recipe for banana bread",
    "who won the football game",
]


def examples() -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for label, phrases in TOPICS.items():
        for phrase in phrases:
            for filler in FILLERS:
                texts.append(f"{filler} {phrase}")
                labels.append(label)
    return texts, labels


def test_predicts_the_label_of_unseen_wording_with_a_probability() -> None:
    texts, labels = examples()
    classifier, report = train_classifier(texts, labels, HashingEmbedder())

    predictions = classifier.predict(
        ["hi, I was charged twice", "reset login please", "where is my parcel"], HashingEmbedder()
    )

    assert [p.label for p in predictions] == ["refund", "password", "shipping"]
    assert all(0 < p.confidence <= 1 for p in predictions)
    assert classifier.labels == ["password", "refund", "shipping"]
    assert report.examples == len(texts)
    assert report.labels == 3
    assert report.details["cv_accuracy"] > 0.5


def test_threshold_from_oos_examples_rejects_unrelated_texts() -> None:
    texts, labels = examples()
    texts += OUT_OF_SCOPE
    labels += ["oos"] * len(OUT_OF_SCOPE)
    classifier, report = train_classifier(texts, labels, HashingEmbedder())

    assert "oos" not in classifier.labels
    assert report.oos_examples == len(OUT_OF_SCOPE)
    assert report.threshold_source == "held-out oos examples"
    assert classifier.threshold > 0
    unrelated = classifier.predict(["a recipe for a joke"], HashingEmbedder())[0]
    related = classifier.predict(["refund please, charged twice"], HashingEmbedder())[0]
    assert unrelated.out_of_scope
    assert not related.out_of_scope
    assert related.label == "refund"


def test_without_oos_examples_the_threshold_rejects_a_small_share_of_in_scope_texts() -> None:
    texts, labels = examples()
    config = ClassifierConfig(in_scope_reject_rate=0.1)
    classifier, report = train_classifier(texts, labels, HashingEmbedder(), config)

    assert "in-scope rejection" in report.threshold_source
    # Calibrated on held-out folds, so the training texts themselves are mostly kept.
    vectors = HashingEmbedder().embed(texts)
    rejected = sum(p.out_of_scope for p in classifier.predict_vectors(texts, vectors))
    assert 0 < classifier.threshold < 1
    assert rejected <= 0.1 * len(texts)


def test_decide_uses_the_given_threshold() -> None:
    texts, labels = examples()
    classifier, _ = train_classifier(texts, labels, HashingEmbedder())
    vectors = HashingEmbedder().embed(texts[:3])
    probabilities = classifier.probabilities(texts[:3], vectors)
    scores = classifier.scope_scores(probabilities, vectors)

    assert all(p.out_of_scope for p in classifier.decide(probabilities, scores, threshold=1.01))
    assert not any(p.out_of_scope for p in classifier.decide(probabilities, scores, threshold=0))


def test_needs_two_in_scope_labels() -> None:
    with pytest.raises(ValueError, match="two labels"):
        train_classifier(["a", "b", "c"], ["x", "x", "oos"], HashingEmbedder())


def test_save_and_load_give_the_same_predictions(tmp_path: Path) -> None:
    texts, labels = examples()
    classifier, _ = train_classifier(texts, labels, HashingEmbedder())
    path = tmp_path / "models" / "v1.pkl"
    classifier.save(path)

    loaded = IntentClassifier.load(path)

    sample = ["charged twice", "tracking number"]
    assert loaded.predict(sample, HashingEmbedder()) == classifier.predict(
        sample, HashingEmbedder()
    )
    assert loaded.threshold == classifier.threshold
    assert loaded.embedding_model == "tests-hashing"


@pytest.mark.real_embedder
def test_real_embedder_labels_paraphrases_that_share_no_words() -> None:
    from deskpilot.ai.embeddings import default_embedder

    training = {
        "lost_card": ["I lost my credit card", "my bank card was stolen", "cannot find my card"],
        "transfer": ["send money to my friend", "wire funds abroad", "make a bank transfer"],
        "weather": ["will it rain today", "how hot is it outside", "forecast for tomorrow"],
    }
    texts = [t for examples in training.values() for t in examples]
    labels = [label for label, examples in training.items() for _ in examples]
    classifier, _ = train_classifier(texts, labels, default_embedder())

    predictions = classifier.predict(
        ["someone pinched my wallet with the visa inside", "is a storm coming this evening"],
        default_embedder(),
    )

    assert [p.label for p in predictions] == ["lost_card", "weather"]


def test_recall_threshold_is_the_lowest_cut_rejecting_the_target_share() -> None:
    oos_scores = np.asarray([0.1, 0.2, 0.3, 0.4, 0.9])

    cut = recall_threshold(oos_scores, 0.8)

    assert 0.4 < cut < 0.41
    assert (oos_scores < cut).mean() == 0.8
    assert (oos_scores < recall_threshold(oos_scores, 1.0)).all()


def test_an_oos_recall_target_sets_the_threshold_from_the_oos_examples_alone() -> None:
    texts, labels = examples()
    texts += OUT_OF_SCOPE
    labels += ["oos"] * len(OUT_OF_SCOPE)
    config = ClassifierConfig(oos_recall_target=0.5)

    classifier, report = train_classifier(texts, labels, HashingEmbedder(), config)

    assert report.threshold_source == "held-out oos examples (50% rejected)"
    vectors = HashingEmbedder().embed(OUT_OF_SCOPE)
    rejected = [p.out_of_scope for p in classifier.predict_vectors(OUT_OF_SCOPE, vectors)]
    # Scored by the final model rather than the held-out folds, but about half of them.
    assert 1 <= sum(rejected) <= len(OUT_OF_SCOPE) - 1
