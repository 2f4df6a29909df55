"""The decision engine: business rules over the model's predictions. AI predicts, rules decide.

`decide(policy, inputs)` is a pure function: no database, no clock, no model. It walks the rules
below in order; the first rule that fires decides, and every rule that fires adds a reason, so
the audit trail shows all of them ("asked for a human" and "refund category" and "urgent").

 1. user_requested         the customer asks for a person ("agent please")   -> escalate
 2. human_category         category is one that always goes to a human       -> escalate (policy)
    human_type             ticket type is one that always goes to a human    -> escalate (policy)
 3. priority / impact      e.g. urgent priority, site_down impact            -> escalate (policy)
 4. sentiment              negativity >= negative_sentiment_threshold        -> escalate
 5. provider_failed        the language model failed and the workspace's
                           fallback is escalation                            -> escalate (low_confidence)
 6. turn_limit             ai_turns >= max_ai_turns                          -> escalate
 7. low_confidence_streak  the previous max_low_confidence_replies runs were
                           all below confirm_threshold: the AI has already
                           struggled, whatever this run's score              -> escalate (low_confidence)
 8. no_answer/out_of_scope no grounded answer, or no known category          -> clarify when a
                           question may help (the text is vague and a clarification is left), else
                           escalate (low_confidence)
 9. threshold              confidence >= resolve_threshold                   -> resolve
                           confidence >= confirm_threshold                   -> confirm, or clarify
                           (rule "ambiguous") when the top two articles are within clarify_margin
10. below confirm          clarify when ambiguous ("ambiguous") or vague ("vague") and a
                           clarification is left, else escalate ("low_confidence")

A clarification is "left" when clarify_enabled and clarifications < max_clarifications. Rules 1-7
override the model; only 8-10 look at the confidence, so raising the confidence never lowers a
decision unless an override fires.
"""

from __future__ import annotations

from dataclasses import dataclass

from deskpilot.triage.policy import DecisionPolicy
from deskpilot.triage.signals import is_vague, negativity, wants_human

DECISIONS = ("resolve", "confirm", "clarify", "escalate")
ESCALATION_REASONS = ("low_confidence", "user_requested", "policy", "sentiment", "turn_limit")
RULES = (
    "user_requested",
    "human_category",
    "human_type",
    "priority",
    "impact",
    "sentiment",
    "provider_failed",
    "turn_limit",
    "low_confidence_streak",
    "no_answer",
    "out_of_scope",
    "threshold",
    "ambiguous",
    "vague",
    "low_confidence",
)


@dataclass(frozen=True)
class DecisionInputs:
    confidence: float  # calibrated P(answer resolves the question), 0..1
    has_answer: bool  # a grounded answer exists
    out_of_scope: bool  # the category classifier says: none of the known categories
    category: str | None  # predicted (or set) category
    ticket_type: str | None
    priority: str | None
    impact: str | None
    text: str  # the customer's latest message (for human request + sentiment)
    ai_turns: int = 0  # AI public replies already on this ticket
    low_confidence_streak: int = 0  # consecutive previous AI runs below confirm_threshold
    clarifications: int = 0  # clarify decisions already made on this ticket
    top_margin: float = 10.0  # retrieval margin between the top two candidate articles
    provider_failed: bool = (
        False  # the language model failed; the workspace falls back to escalation
    )


@dataclass(frozen=True)
class Verdict:
    decision: str  # "resolve" | "confirm" | "clarify" | "escalate"
    rule: str  # which rule decided (stable snake_case code, one of RULES)
    reasons: tuple[str, ...]  # human-readable, for agents and the audit trail
    escalation_reason: (
        str | None
    )  # for escalate: low_confidence|user_requested|policy|sentiment|turn_limit


@dataclass(frozen=True)
class _Fired:
    decision: str
    rule: str
    reason: str
    escalation_reason: str | None = None


def _overrides(policy: DecisionPolicy, inputs: DecisionInputs) -> list[_Fired]:
    """Rules 1-7, in order: each one that fires."""
    fired: list[_Fired] = []
    if wants_human(inputs.text):
        fired.append(
            _Fired(
                "escalate", "user_requested", "The customer asked for a person", "user_requested"
            )
        )
    human_category = policy.human_category_for(inputs.category)
    if human_category is not None:
        reason = f"Category {inputs.category!r} always goes to a human ({human_category})"
        fired.append(_Fired("escalate", "human_category", reason, "policy"))
    if policy.is_human_type(inputs.ticket_type):
        reason = f"Ticket type {inputs.ticket_type!r} always goes to a human"
        fired.append(_Fired("escalate", "human_type", reason, "policy"))
    if policy.escalates_priority(inputs.priority):
        reason = f"Priority {inputs.priority!r} goes to a human"
        fired.append(_Fired("escalate", "priority", reason, "policy"))
    if policy.escalates_impact(inputs.impact):
        reason = f"Impact {inputs.impact!r} goes to a human"
        fired.append(_Fired("escalate", "impact", reason, "policy"))
    threshold = policy.negative_sentiment_threshold
    if threshold is not None:
        score = negativity(inputs.text)
        if score >= threshold:
            reason = f"Strongly negative message (negativity {score:.2f} >= {threshold:.2f})"
            fired.append(_Fired("escalate", "sentiment", reason, "sentiment"))
    if inputs.provider_failed:
        reason = "The language model failed and this workspace falls back to a human"
        fired.append(_Fired("escalate", "provider_failed", reason, "low_confidence"))
    if inputs.ai_turns >= policy.max_ai_turns:
        reason = f"The AI already replied {inputs.ai_turns} times (limit {policy.max_ai_turns})"
        fired.append(_Fired("escalate", "turn_limit", reason, "turn_limit"))
    if inputs.low_confidence_streak >= policy.max_low_confidence_replies:
        reason = (
            f"{inputs.low_confidence_streak} low-confidence AI runs in a row "
            f"(limit {policy.max_low_confidence_replies})"
        )
        fired.append(_Fired("escalate", "low_confidence_streak", reason, "low_confidence"))
    return fired


def _can_clarify(policy: DecisionPolicy, inputs: DecisionInputs) -> bool:
    return policy.clarify_enabled and inputs.clarifications < policy.max_clarifications


def _escalate_low(reason: str) -> _Fired:
    return _Fired("escalate", "low_confidence", reason, "low_confidence")


def _model_rule(policy: DecisionPolicy, inputs: DecisionInputs) -> _Fired:
    """Rules 8-10: what the prediction alone leads to."""
    confidence = inputs.confidence
    can_clarify = _can_clarify(policy, inputs)
    vague = is_vague(inputs.text)
    if not inputs.has_answer or inputs.out_of_scope:
        rule = "no_answer" if not inputs.has_answer else "out_of_scope"
        what = (
            "No grounded answer in the knowledge base"
            if rule == "no_answer"
            else "The question matches none of the known categories"
        )
        if can_clarify and vague:
            return _Fired("clarify", rule, f"{what}; the message is vague, asking for details")
        return _Fired("escalate", rule, what, "low_confidence")
    ambiguous = inputs.top_margin < policy.clarify_margin
    ambiguity = (
        f"The top two articles are close (margin {inputs.top_margin:.2f} "
        f"< {policy.clarify_margin:.2f})"
    )
    if confidence >= policy.resolve_threshold:
        reason = f"Confidence {confidence:.2f} >= resolve threshold {policy.resolve_threshold:.2f}"
        return _Fired("resolve", "threshold", reason)
    if confidence >= policy.confirm_threshold:
        if ambiguous and can_clarify:
            return _Fired("clarify", "ambiguous", f"{ambiguity}; asking which one applies")
        reason = f"Confidence {confidence:.2f} >= confirm threshold {policy.confirm_threshold:.2f}"
        return _Fired("confirm", "threshold", reason)
    low = f"Confidence {confidence:.2f} < confirm threshold {policy.confirm_threshold:.2f}"
    if can_clarify and ambiguous:
        return _Fired("clarify", "ambiguous", f"{low}; {ambiguity}")
    if can_clarify and vague:
        return _Fired("clarify", "vague", f"{low}; the message is vague, asking for details")
    return _escalate_low(low)


def decide(policy: DecisionPolicy, inputs: DecisionInputs) -> Verdict:
    """The decision for one AI run; see the module docstring for the rules and their order."""
    fired = _overrides(policy, inputs)
    model = _model_rule(policy, inputs)
    winner = fired[0] if fired else model
    # The model's own outcome comes last: agents see what would have happened without overrides.
    reasons = (*(f.reason for f in fired), f"Otherwise: {model.reason}" if fired else model.reason)
    return Verdict(
        decision=winner.decision,
        rule=winner.rule,
        reasons=reasons,
        escalation_reason=winner.escalation_reason if winner.decision == "escalate" else None,
    )
