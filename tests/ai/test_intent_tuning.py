"""Fine-tuning the encoder inside a classifier: held-out calibration, persistence, fallbacks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deskpilot.ai.classifier import (
    ClassifierConfig,
    IntentClassifier,
    _calibration_split,
    train_classifier,
)
from deskpilot.ai.intent_tuning import TuningConfig
from tests.ai.test_classifier import OUT_OF_SCOPE, examples
from tests.fakes import HashingEmbedder

# Small and quick: enough steps to move the encoder, seconds on one CPU thread.
QUICK = ClassifierConfig(tuning=TuningConfig(epochs=1, batch_size=16, max_seq_length=32))


def test_calibration_split_holds_out_a_share_of_every_label_but_never_its_last_example() -> None:
    labels = np.asarray(["a"] * 20 + ["b"] * 2 + ["c"] * 7)

    kept, held = _calibration_split(labels, 0.1, seed=0)

    assert sorted(kept.tolist() + held.tolist()) == list(range(len(labels)))
    held_labels = labels[held].tolist()
    assert (held_labels.count("a"), held_labels.count("b"), held_labels.count("c")) == (2, 1, 1)
    assert set(labels[kept].tolist()) == {"a", "b", "c"}


def test_an_embedder_without_weights_to_tune_trains_the_frozen_way() -> None:
    texts, labels = examples()

    classifier, report = train_classifier(texts, labels, HashingEmbedder(), QUICK)

    assert classifier.encoder is None
    assert report.details["encoder"] == "frozen"


@pytest.mark.real_embedder
def test_an_untuned_classifier_runs_its_own_int8_encoder_and_saves_no_weights(
    tmp_path: Path,
) -> None:
    from deskpilot.ai.embeddings import default_embedder

    texts, labels = examples()
    config = ClassifierConfig(own_encoder=True, neighbour_weight=0.3)
    classifier, report = train_classifier(texts, labels, default_embedder(), config)

    assert report.details["encoder"] == "all-MiniLM-L6-v2 frozen, int8"
    sample = ["hi, I was charged twice", "where is my parcel"]
    own = classifier.embed(sample, HashingEmbedder())
    # Close to the float model's vectors (int8 weights), but not the embedder passed in.
    cosines = (own * default_embedder().embed(sample)).sum(axis=1)
    assert np.all(cosines > 0.9)
    assert [p.label for p in classifier.predict(sample, HashingEmbedder())] == [
        "refund",
        "shipping",
    ]
    path = tmp_path / "v1.pkl"
    classifier.save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v1.pkl"]
    loaded = IntentClassifier.load(path)
    assert loaded.predict(sample, HashingEmbedder()) == classifier.predict(
        sample, HashingEmbedder()
    )


def test_neighbour_vote_follows_the_nearest_examples() -> None:
    texts, labels = examples()
    config = ClassifierConfig(neighbour_weight=1.0, neighbours=3, calibration_folds=0)
    classifier, _ = train_classifier(texts, labels, HashingEmbedder(), config)

    vectors = HashingEmbedder().embed(["tracking number courier", "locked out password"])
    votes = classifier.neighbour_vote(vectors)

    assert np.allclose(votes.sum(axis=1), 1.0)
    assert [classifier.labels[int(i)] for i in votes.argmax(axis=1)] == ["shipping", "password"]
    # With all the weight on the vote, the probabilities are the vote.
    assert np.allclose(classifier.probabilities(["x", "y"], vectors), votes)


@pytest.mark.real_embedder
def test_tuned_classifier_owns_its_encoder_and_saves_it_beside_the_artifact(
    tmp_path: Path,
) -> None:
    from deskpilot.ai.embeddings import default_embedder

    texts, labels = examples()
    texts += OUT_OF_SCOPE
    labels += ["oos"] * len(OUT_OF_SCOPE)
    classifier, report = train_classifier(texts, labels, default_embedder(), QUICK)

    assert classifier.encoder is not None
    assert report.details["encoder"] == "all-MiniLM-L6-v2 fine-tuned, int8"
    assert report.details["tuned_on"] < report.examples  # the calibration share is held out
    assert report.threshold_source == "held-out oos examples"
    assert 0 < report.threshold < 1
    sample = ["hi, I was charged twice", "reset login please", "where is my parcel"]
    predictions = classifier.predict(sample, default_embedder())
    assert [p.label for p in predictions] == ["refund", "password", "shipping"]
    # The tuned encoder, not the embedder passed in, makes the vectors.
    tuned = classifier.embed(sample, HashingEmbedder())
    assert not np.allclose(tuned, default_embedder().embed(sample), atol=1e-3)

    path = tmp_path / "models" / "v1.pkl"
    classifier.save(path)
    assert (tmp_path / "models" / "v1.encoder" / "config.json").is_file()
    loaded = IntentClassifier.load(path)
    assert loaded.predict(sample, HashingEmbedder()) == predictions

    copy = tmp_path / "elsewhere" / "v9.pkl"
    loaded.save(copy)
    assert IntentClassifier.load(copy).predict(sample, HashingEmbedder()) == predictions
