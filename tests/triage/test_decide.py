"""The decision engine's rules: each one fires, in its documented order, with its reason."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deskpilot.triage.decide import (
    DECISIONS,
    ESCALATION_REASONS,
    RULES,
    DecisionInputs,
    Verdict,
    decide,
)
from deskpilot.triage.policy import DecisionPolicy

DEFAULTS = DecisionPolicy()
CLEAR_QUESTION = "How do I reset my password after changing my email address?"
VAGUE = "it doesn't work"


def inputs(**overrides: Any) -> DecisionInputs:
    """A confident, answerable, calm question that no override rule touches."""
    values: dict[str, Any] = {
        "confidence": 0.9,
        "has_answer": True,
        "out_of_scope": False,
        "category": "login",
        "ticket_type": "question",
        "priority": "normal",
        "impact": "single_user",
        "text": CLEAR_QUESTION,
    }
    values.update(overrides)
    return DecisionInputs(**values)


def verdict(policy: DecisionPolicy = DEFAULTS, **overrides: Any) -> Verdict:
    return decide(policy, inputs(**overrides))


# --- thresholds --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("confidence", "decision", "rule"),
    [
        (1.0, "resolve", "threshold"),
        (0.85, "resolve", "threshold"),
        (0.8499, "confirm", "threshold"),
        (0.70, "confirm", "threshold"),
        (0.6999, "escalate", "low_confidence"),
        (0.0, "escalate", "low_confidence"),
    ],
)
def test_threshold_boundaries(confidence: float, decision: str, rule: str) -> None:
    result = verdict(confidence=confidence)
    assert (result.decision, result.rule) == (decision, rule)
    assert result.escalation_reason == ("low_confidence" if decision == "escalate" else None)


def test_thresholds_follow_the_policy() -> None:
    strict = DecisionPolicy(resolve_threshold=0.95, confirm_threshold=0.9)
    assert verdict(strict, confidence=0.93).decision == "confirm"
    assert verdict(strict, confidence=0.89).decision == "escalate"
    lenient = DecisionPolicy(resolve_threshold=0.6, confirm_threshold=0.5)
    assert verdict(lenient, confidence=0.6).decision == "resolve"


def test_the_reason_names_the_confidence_and_threshold() -> None:
    assert verdict(confidence=0.9).reasons == ("Confidence 0.90 >= resolve threshold 0.85",)


# --- clarify -----------------------------------------------------------------------------------


def test_close_candidates_in_the_confirm_band_ask_which_one() -> None:
    result = verdict(confidence=0.75, top_margin=0.2)
    assert (result.decision, result.rule, result.escalation_reason) == (
        "clarify",
        "ambiguous",
        None,
    )
    assert verdict(confidence=0.75, top_margin=0.5).decision == "confirm"  # margin not below
    assert verdict(confidence=0.9, top_margin=0.2).decision == "resolve"  # confident enough


def test_below_confirm_ambiguous_or_vague_questions_get_a_question() -> None:
    assert (verdict(confidence=0.5, top_margin=0.1).rule) == "ambiguous"
    vague = verdict(confidence=0.5, text=VAGUE)
    assert (vague.decision, vague.rule) == ("clarify", "vague")
    clear = verdict(confidence=0.5)
    assert (clear.decision, clear.rule) == ("escalate", "low_confidence")


def test_clarifications_run_out() -> None:
    used_up = verdict(confidence=0.5, text=VAGUE, clarifications=1)
    assert (used_up.decision, used_up.escalation_reason) == ("escalate", "low_confidence")
    assert verdict(confidence=0.75, top_margin=0.1, clarifications=1).decision == "confirm"
    two = DecisionPolicy(max_clarifications=2)
    assert verdict(two, confidence=0.5, text=VAGUE, clarifications=1).decision == "clarify"


def test_clarify_can_be_switched_off() -> None:
    off = DecisionPolicy(clarify_enabled=False)
    assert verdict(off, confidence=0.5, text=VAGUE).decision == "escalate"
    assert verdict(off, confidence=0.75, top_margin=0.1).decision == "confirm"
    assert verdict(off, has_answer=False, text=VAGUE).decision == "escalate"


@pytest.mark.parametrize(
    ("overrides", "rule"),
    [({"has_answer": False}, "no_answer"), ({"out_of_scope": True}, "out_of_scope")],
)
def test_no_answer_and_out_of_scope(overrides: dict[str, Any], rule: str) -> None:
    # Even a high confidence does not matter without an answer or a known category.
    clear = verdict(confidence=0.95, **overrides)
    assert (clear.decision, clear.rule, clear.escalation_reason) == (
        "escalate",
        rule,
        "low_confidence",
    )
    vague = verdict(confidence=0.95, text=VAGUE, **overrides)
    assert (vague.decision, vague.rule) == ("clarify", rule)


# --- overrides ---------------------------------------------------------------------------------

# In the documented order; each entry makes exactly its rule fire.
OVERRIDES: list[tuple[str, dict[str, Any], str]] = [
    ("user_requested", {"text": "This is useless. Agent please!"}, "user_requested"),
    ("human_category", {"category": "Request refund"}, "policy"),
    ("human_type", {"ticket_type": "billing"}, "policy"),
    ("priority", {"priority": "urgent"}, "policy"),
    ("impact", {"impact": "site_down"}, "policy"),
    ("sentiment", {"text": "This is the worst service ever, I'm furious!!!"}, "sentiment"),
    ("provider_failed", {"provider_failed": True}, "low_confidence"),
    ("turn_limit", {"ai_turns": 3}, "turn_limit"),
    ("low_confidence_streak", {"low_confidence_streak": 2}, "low_confidence"),
]


@pytest.mark.parametrize(("rule", "overrides", "reason"), OVERRIDES)
def test_each_override_escalates_a_confident_answer(
    rule: str, overrides: dict[str, Any], reason: str
) -> None:
    result = verdict(confidence=0.99, **overrides)
    assert (result.decision, result.rule, result.escalation_reason) == ("escalate", rule, reason)
    # The model's outcome is kept for the audit trail.
    assert result.reasons[-1] == "Otherwise: Confidence 0.99 >= resolve threshold 0.85"


@pytest.mark.parametrize("position", range(len(OVERRIDES)))
def test_overrides_take_precedence_in_order(position: int) -> None:
    """With every rule from `position` on firing, the one at `position` decides."""
    combined: dict[str, Any] = {}
    for _, overrides, _ in OVERRIDES[position:]:
        combined.update(overrides)
    if position == 0:  # user_requested and sentiment share `text`: use one that does both
        combined["text"] = "This is the worst service ever, I'm furious!!! Agent please!"
    result = verdict(**combined)
    assert result.rule == OVERRIDES[position][0]
    fired = len(OVERRIDES) - position
    assert len(result.reasons) == fired + 1  # every rule that fired, then the model's outcome


def test_human_categories_match_synonyms_and_case() -> None:
    for category in (
        "refund",
        "Refunds",
        "request_refund",
        "Billing change",
        "update_payment_method",
        "cancel_subscription",
        "Legal question",
    ):
        assert verdict(category=category).rule == "human_category", category
    for category in ("login", "billing_question_about_vat", "change_email", None, ""):
        assert verdict(category=category).rule == "threshold", category


def test_override_rules_follow_the_policy() -> None:
    relaxed = DecisionPolicy(
        human_categories=[],
        human_types=[],
        escalate_priorities=[],
        escalate_impacts=[],
        negative_sentiment_threshold=None,
        max_ai_turns=10,
        max_low_confidence_replies=5,
    )
    calm = verdict(
        relaxed,
        category="refund",
        ticket_type="billing",
        priority="urgent",
        impact="site_down",
        text="This is the worst service ever, I'm furious!!!",
        ai_turns=9,
        low_confidence_streak=4,
    )
    assert (calm.decision, calm.rule) == ("resolve", "threshold")
    custom = DecisionPolicy(human_categories=["Data export"], escalate_priorities=["high"])
    assert verdict(custom, category="data_export").rule == "human_category"
    assert verdict(custom, priority="HIGH").rule == "priority"
    assert verdict(custom, category="refund").rule == "threshold"


def test_turn_limit_counts_previous_ai_replies() -> None:
    assert verdict(ai_turns=2).decision == "resolve"
    assert verdict(ai_turns=3).rule == "turn_limit"


def test_low_confidence_streak_counts_previous_runs() -> None:
    assert verdict(low_confidence_streak=1).decision == "resolve"
    assert verdict(low_confidence_streak=2).rule == "low_confidence_streak"


# --- properties --------------------------------------------------------------------------------

texts = st.one_of(
    st.text(max_size=300),
    st.sampled_from([CLEAR_QUESTION, VAGUE, "agent please", "I'm furious!!! worst ever", ""]),
)
maybe = st.none() | st.sampled_from(["", "refund", "login", "billing", "urgent", "site_down", "x"])
decision_inputs = st.builds(
    DecisionInputs,
    confidence=st.floats(0.0, 1.0),
    has_answer=st.booleans(),
    out_of_scope=st.booleans(),
    category=maybe,
    ticket_type=maybe | st.sampled_from(["question", "bug", "cancellation"]),
    priority=maybe | st.sampled_from(["low", "normal", "high"]),
    impact=maybe | st.sampled_from(["single_user", "multiple_users"]),
    text=texts,
    ai_turns=st.integers(0, 6),
    low_confidence_streak=st.integers(0, 4),
    clarifications=st.integers(0, 3),
    top_margin=st.floats(0.0, 12.0),
    provider_failed=st.booleans(),
)
policies = st.builds(
    lambda resolve, gap, clarify, margin: DecisionPolicy(
        resolve_threshold=resolve,
        confirm_threshold=max(0.0, resolve - gap),
        clarify_enabled=clarify,
        clarify_margin=margin,
    ),
    st.floats(0.0, 1.0),
    st.floats(0.0, 1.0),
    st.booleans(),
    st.floats(0.0, 10.0),
)
RANK = {"escalate": 0, "clarify": 1, "confirm": 2, "resolve": 3}


@settings(max_examples=400, deadline=None)
@given(policies, decision_inputs)
def test_decide_always_returns_a_well_formed_verdict(
    policy: DecisionPolicy, data: DecisionInputs
) -> None:
    result = decide(policy, data)
    assert result.decision in DECISIONS
    assert result.rule in RULES
    assert result.reasons
    assert all(isinstance(r, str) and r for r in result.reasons)
    if result.decision == "escalate":
        assert result.escalation_reason in ESCALATION_REASONS
    else:
        assert result.escalation_reason is None


@settings(max_examples=400, deadline=None)
@given(policies, decision_inputs, st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_more_confidence_never_means_a_weaker_decision(
    policy: DecisionPolicy, data: DecisionInputs, a: float, b: float
) -> None:
    low, high = sorted((a, b))
    before = decide(policy, dataclasses.replace(data, confidence=low))
    after = decide(policy, dataclasses.replace(data, confidence=high))
    if before.decision == "resolve":
        assert after.decision == "resolve"
    assert RANK[after.decision] >= RANK[before.decision]


@settings(max_examples=200, deadline=None)
@given(decision_inputs)
def test_decide_is_deterministic(data: DecisionInputs) -> None:
    assert decide(DEFAULTS, data) == decide(DEFAULTS, data)


def test_nan_confidence_is_not_an_answer() -> None:
    assert verdict(confidence=float("nan")).decision == "escalate"
