"""One run of the resolution engine: classify -> retrieve -> answer -> ground -> calibrate ->
decide. Read-only: the caller stores the decision (dry run or ticket pipeline).

Predictions (classifier labels, retrieval scores, the model's answer, the calibrated confidence)
and the decision (`triage.decide`, business rules from the workspace's policy) stay separate, and
everything the decision saw is returned so it can be logged with it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from deskpilot.ai import ticket_models
from deskpilot.ai.ports import DraftAnswer, Passage
from deskpilot.core.context import Context
from deskpilot.kb.search import SearchHit
from deskpilot.llm import service as llm_service
from deskpilot.llm.builtin import BuiltinLLM
from deskpilot.llm.models import AiUsage
from deskpilot.llm.service import ComposeResult
from deskpilot.triage import answering, calibration
from deskpilot.triage import confidence as conf
from deskpilot.triage.answering import Turn
from deskpilot.triage.decide import DecisionInputs, Verdict, decide
from deskpilot.triage.grounding import Grounding
from deskpilot.triage.policy import DecisionPolicy, get_policy
from deskpilot.workspaces.models import Workspace

# A predicted type only triggers type rules (e.g. billing -> human) when the model is this sure.
TYPE_RULE_CONFIDENCE = 0.6


@dataclass(frozen=True)
class Question:
    """What the engine answers: a dry-run question or a ticket's conversation so far."""

    turns: tuple[Turn, ...]
    subject: str = ""
    ticket_id: int | None = None
    ticket_type: str | None = None
    category: str | None = None
    priority: str | None = None
    impact: str | None = None
    ai_turns: int = 0
    low_confidence_streak: int = 0
    clarifications: int = 0


@dataclass
class EngineRun:
    query: str
    verdict: Verdict
    decision_inputs: DecisionInputs
    confidence: float
    classification: dict[str, Any] | None
    hits: list[SearchHit]
    passages: list[Passage]
    answer: DraftAnswer | None
    grounding: Grounding | None
    answer_markdown: str | None
    reply: str | None
    citations: list[dict[str, Any]]
    features: dict[str, float]
    calibrator: str
    provider: str = "builtin"
    model: str = ""
    prompt_version: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    fallback: str | None = None
    latency_ms: float = 0.0
    policy: dict[str, Any] = field(default_factory=dict)
    usage_row: AiUsage | None = None

    def inputs(self) -> dict[str, Any]:
        """What the decision saw, for the decision log."""
        return {
            "features": self.features,
            "classification": self.classification,
            "retrieval": [
                {
                    "article_id": h.article_id,
                    "external_id": h.external_id,
                    "chunk_id": h.chunk_id,
                    "score": h.score,
                    "passage_cosine": h.dense,
                    "title_cosine": h.title_dense,
                    "bm25": h.lexical,
                }
                for h in self.hits
            ],
            "grounding": None
            if self.grounding is None
            else {
                "grounded": self.grounding.grounded,
                "supported": self.grounding.supported,
                "sentences": self.grounding.sentences,
                "unsupported": list(self.grounding.unsupported),
            },
            "fallback": self.fallback,
            "policy": self.policy,
        }


def _workspace_slug(session: Session, ctx: Context) -> str:
    slug = session.scalar(select(Workspace.slug).where(Workspace.id == ctx.workspace_id))
    return slug or ""


def _latest_customer_text(question: Question) -> str:
    return next((t.text for t in reversed(question.turns) if t.author == "customer"), "")


def _classify(
    session: Session, ctx: Context, question: Question, query: str
) -> tuple[dict[str, Any] | None, str | None, str | None, bool]:
    """(stored classification, category, type for rules, out of scope)."""
    latest = _latest_customer_text(question)
    predicted = ticket_models.classify_ticket(session, ctx, question.subject, latest or query)
    stored = ticket_models.as_json(predicted)
    category = question.category
    out_of_scope = False
    if predicted.category is not None:
        out_of_scope = predicted.category.out_of_scope
        if category is None and not out_of_scope:
            category = predicted.category.label
    ticket_type = question.ticket_type
    if ticket_type is None and predicted.type.confidence >= TYPE_RULE_CONFIDENCE:
        ticket_type = predicted.type.label
    return stored, category, ticket_type, out_of_scope


def run(
    session: Session,
    ctx: Context,
    question: Question,
    *,
    policy: DecisionPolicy | None = None,
    classify: bool = True,
    record_usage: bool = True,
    builtin: bool = False,
) -> EngineRun:
    """With `record_usage=False` (read-only callers) the provider's usage row is returned in
    `EngineRun.usage_row` for the caller to add when it writes; `builtin=True` answers with the
    offline builtin whatever the workspace configured."""
    started = time.perf_counter()
    # Customers ask too (portal, chat): workspace configuration is read with the system's rights.
    system = Context.system(ctx.workspace_id)
    policy = policy or get_policy(session, system)
    query = answering.build_query(question.subject, question.turns)
    classification, category, ticket_type, out_of_scope = (
        _classify(session, ctx, question, query)
        if classify
        else (None, question.category, question.ticket_type, False)
    )
    hits = answering.retrieve(session, ctx, query)
    passages = answering.passages_for(hits, _workspace_slug(session, ctx))
    draft: DraftAnswer | None = None
    fallback: str | None = None
    provider_failed = False
    usage: dict[str, Any] = {}
    usage_row: AiUsage | None = None
    if passages:
        request = answering.answer_request(query, passages, question.turns)
        composed = llm_service.compose_answer(
            session,
            ctx,
            request,
            ticket_id=question.ticket_id,
            purpose="answer",
            record=record_usage,
            llm=BuiltinLLM() if builtin else None,
        )
        usage_row = composed.usage_row
        draft, fallback, provider_failed, usage = _unpack(composed)
    checked = answering.ground(draft, passages)
    # An outside model's unsupported claim never reaches a customer: the builtin answers instead.
    if draft is not None and draft.provider != "builtin" and checked and not checked.grounded:
        fallback = "ungrounded"
        draft = BuiltinLLM().answer(answering.answer_request(query, passages, question.turns))
        checked = answering.ground(draft, passages)
    features = conf.features(query, hits)
    calibrator = calibration.calibrator_for(session, ctx)
    grounded = checked.grounded if checked is not None else False
    confidence = conf.confidence(calibrator, features, grounded=grounded) if draft else 0.0
    margin = features.get("margin_2", conf.LONE_MARGIN) if features else 0.0
    decision_inputs = DecisionInputs(
        confidence=confidence,
        has_answer=draft is not None and grounded,
        out_of_scope=out_of_scope,
        category=category,
        ticket_type=ticket_type,
        priority=question.priority,
        impact=question.impact,
        text=query,
        ai_turns=question.ai_turns,
        low_confidence_streak=question.low_confidence_streak,
        clarifications=question.clarifications,
        top_margin=margin,
        provider_failed=provider_failed,
    )
    verdict = decide(policy, decision_inputs)
    answer_md = answering.answer_markdown(draft, passages) if draft and grounded else None
    return EngineRun(
        query=query,
        verdict=verdict,
        decision_inputs=decision_inputs,
        confidence=confidence,
        classification=classification,
        hits=hits,
        passages=passages,
        answer=draft,
        grounding=checked,
        answer_markdown=answer_md,
        reply=answering.customer_reply(verdict.decision, answer_md, hits),
        citations=answering.citations(draft, passages, hits) if answer_md else [],
        features=features,
        calibrator=calibrator.name,
        provider=draft.provider if draft else usage.get("provider", "builtin"),
        model=draft.model if draft else usage.get("model", ""),
        prompt_version=draft.prompt_version if draft else "",
        input_tokens=int(usage.get("input_tokens", 0)),
        output_tokens=int(usage.get("output_tokens", 0)),
        cost_usd=float(usage.get("cost_usd", 0.0)),
        fallback=fallback,
        latency_ms=round((time.perf_counter() - started) * 1000, 2),
        policy=policy.model_dump(mode="json"),
        usage_row=usage_row,
    )


def _unpack(composed: ComposeResult) -> tuple[DraftAnswer | None, str | None, bool, dict[str, Any]]:
    """(answer, fallback reason, failed with fallback to escalation, usage) of a provider call."""
    usage = {
        "provider": composed.provider,
        "model": composed.model,
        "input_tokens": composed.usage.input_tokens,
        "output_tokens": composed.usage.output_tokens,
        "cost_usd": composed.cost_usd,
    }
    fallback = composed.failed_reason if composed.fallback_used or composed.answer is None else None
    failed_to_escalation = composed.answer is None and composed.failed_reason is not None
    return composed.answer, fallback, failed_to_escalation, usage


def low_confidence_streak(confidences: Sequence[float], threshold: float) -> int:
    """How many of the latest runs (newest last) were in a row below the threshold."""
    streak = 0
    for value in reversed(confidences):
        if value >= threshold:
            break
        streak += 1
    return streak
