"""Confidence features, calibrators, reliability, and groundedness checks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deskpilot.ai.ports import AnswerSentence, DraftAnswer, Passage
from deskpilot.kb.search import SearchHit
from deskpilot.triage import confidence as conf
from deskpilot.triage import grounding


def hit(
    score: float, dense: float, title: float = 0.3, lexical: float = 0.0, name: str = "Article"
) -> SearchHit:
    return SearchHit(
        article_id=1,
        external_id="a",
        title=name,
        slug="t",
        snippet="",
        score=score,
        chunk_id=1,
        dense=dense,
        lexical=lexical,
        title_dense=title,
        passage="p",
    )


def test_features_describe_the_winner_and_its_margins() -> None:
    values = conf.features("how do I reset it", [hit(3.0, 0.8, 0.7, 2.0), hit(1.0, 0.5, 0.2)])
    assert set(values) == set(conf.FEATURES)
    assert values["margin_2"] == pytest.approx(2.0)
    assert values["margin_3"] == conf.LONE_MARGIN
    assert values["passage_margin"] == pytest.approx(0.3)
    assert values["passage_agrees"] == values["bm25_agrees"] == 1.0
    assert values["has_bm25"] == 1.0
    assert conf.features("q", []) == {}


CLEAR = [
    hit(9.0, 0.78, 0.9, 12.0, "Reset your password"),
    hit(5.5, 0.55, 0.6, 0.0, "Change your email"),
    hit(5.0, 0.5, 0.55, 0.0, "Two-factor sign-in"),
]
MURKY = [
    hit(6.0, 0.45, 0.52, 0.0, "Account settings"),
    hit(5.9, 0.47, 0.55, 3.0, "Password rules"),
    hit(5.8, 0.44, 0.5, 0.0, "Security overview"),
]


def test_the_shipped_calibrator_is_more_confident_about_a_clear_winner() -> None:
    calibrator = conf.default_calibrator()
    assert calibrator.feature_names == conf.FEATURES
    clear = calibrator.probability(conf.features("reset my password", CLEAR))
    murky = calibrator.probability(conf.features("reset my password", MURKY))
    assert clear > 0.8
    assert murky < 0.5
    assert conf.confidence(calibrator, {}) == 0.0


def test_extreme_features_are_not_extrapolated() -> None:
    calibrator = conf.default_calibrator()
    params = zip(calibrator.feature_names, calibrator.mean, calibrator.scale, strict=True)
    far, at_clip = {}, {}
    for name, mean, scale in params:
        far[name] = mean + 100 * scale
        at_clip[name] = mean + conf.CLIP_SD * scale
    assert calibrator.probability(far) == calibrator.probability(at_clip)


def test_an_ungrounded_answer_is_capped() -> None:
    calibrator = conf.default_calibrator()
    clear = conf.features("reset my password", CLEAR)
    assert conf.confidence(calibrator, clear, grounded=False) <= conf.UNGROUNDED_CAP


def test_a_fitted_calibrator_round_trips_and_learns_the_direction() -> None:
    rows = [conf.features("q", [hit(s, 0.2 + s / 10), hit(0.0, 0.2)]) for s in range(10)]
    labels = [s >= 5 for s in range(10)]
    fitted = conf.fit_calibrator(rows, labels, name="t", c=10.0)
    again = conf.Calibrator.from_params(fitted.as_params())
    assert again == fitted
    assert fitted.probability(rows[9]) > 0.5 > fitted.probability(rows[0])
    with pytest.raises(ValueError, match="both"):
        conf.fit_calibrator(rows, [True] * 10, name="t")


def test_reliability_of_a_perfectly_calibrated_model_is_zero() -> None:
    table, ece = conf.reliability([0.25] * 4 + [0.75] * 4, [1, 0, 0, 0, 1, 1, 1, 0])
    assert ece == 0.0
    assert [row["count"] for row in table] == [4, 4]


@given(st.lists(st.floats(0, 1), min_size=1, max_size=50), st.data())
def test_ece_is_between_zero_and_one(probabilities: list[float], data: st.DataObject) -> None:
    outcomes = data.draw(
        st.lists(st.booleans(), min_size=len(probabilities), max_size=len(probabilities))
    )
    _, ece = conf.reliability(probabilities, outcomes)
    assert 0.0 <= ece <= 1.0


PASSAGES = [
    Passage(
        "P1",
        1,
        11,
        "Reset your password",
        "/a",
        "Choose Forgot password. The link is valid for one hour.",
    ),
    Passage("P2", 2, 22, "Invoices", "/b", "Invoices are emailed on the first day of the month."),
]


def draft(*sentences: tuple[str, tuple[str, ...]], answerable: bool = True) -> DraftAnswer:
    return DraftAnswer(
        sentences=tuple(AnswerSentence(text, refs) for text, refs in sentences),
        answerable=answerable,
        provider="test",
        model="m",
    )


def test_verbatim_and_close_paraphrases_are_grounded() -> None:
    assert grounding.check(draft(("Choose Forgot password.", ("P1",))), PASSAGES).grounded
    close = draft(("The reset link is valid for one hour, choose Forgot password.", ("P1",)))
    assert grounding.check(close, PASSAGES).grounded


@pytest.mark.parametrize(
    "answer",
    [
        draft(("Choose Forgot password.", ())),  # cites nothing
        draft(("Choose Forgot password.", ("P9",))),  # cites a passage it was not given
        draft(("The link is valid for 24 hours.", ("P1",))),  # a number the passage does not say
        draft(("Call our hotline and ask for a manager to refund you.", ("P1",))),  # new claims
        draft(("Choose Forgot password.", ("P2",))),  # the wrong passage
        draft(("Choose Forgot password.", ("P1",)), answerable=False),
        draft(),
    ],
)
def test_unsupported_answers_are_not_grounded(answer: DraftAnswer) -> None:
    result = grounding.check(answer, PASSAGES)
    assert not result.grounded


def test_title_overlap_counts_the_questions_words_in_the_title() -> None:
    assert conf.overlap("How do I reset my password?", "Reset your password") == 1.0
    assert conf.overlap("How do I reset my password?", "Invoices") == 0.0
    assert conf.overlap("the and of", "Anything") == 0.0
    values = conf.features("reset my password", CLEAR)
    assert values["title_overlap"] == 1.0
    assert values["title_overlap_margin"] == 1.0
