"""The engine's write side: decision log, dry-run answers, customer confirmation and outcomes.

Services here never commit; the caller owns the transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, object_session

from deskpilot.core.clock import utcnow
from deskpilot.core.context import Context, Role
from deskpilot.core.errors import Conflict, PermissionDenied, ValidationFailed
from deskpilot.db.hooks import after_commit
from deskpilot.db.pagination import keyset_page
from deskpilot.db.scoped import get_scoped, scoped
from deskpilot.observability import metrics
from deskpilot.tickets import service as tickets_service
from deskpilot.tickets.lifecycle import Status
from deskpilot.tickets.models import Ticket
from deskpilot.triage import engine
from deskpilot.triage.answering import Turn
from deskpilot.triage.models import AiDecision

MAX_QUESTION = 4000
ANSWERED = ("resolve", "confirm")
CUSTOMER_REASON = {
    "clarify": "A little more detail will help us find the right answer.",
    "escalate": "A member of our team will answer this.",
}
OUTCOMES = ("confirmed", "rejected", "reopened", "escalated", "resolved_by_agent")


def validate_question(question: str) -> str:
    text = " ".join(question.split())
    if not text:
        raise ValidationFailed(
            "The question is empty", details=[{"field": "question", "message": "must not be blank"}]
        )
    return text[:MAX_QUESTION]


def record_decision(
    session: Session,
    ctx: Context,
    run: engine.EngineRun,
    *,
    source: str,
    ticket_id: int | None = None,
    trigger_message_id: int | None = None,
    reply_message_id: int | None = None,
) -> AiDecision:
    if run.usage_row is not None:
        session.add(run.usage_row)
    row = AiDecision(
        workspace_id=ctx.workspace_id,
        ticket_id=ticket_id,
        trigger_message_id=trigger_message_id,
        reply_message_id=reply_message_id,
        source=source,
        query=run.query,
        decision=run.verdict.decision,
        confidence=run.confidence,
        rule=run.verdict.rule,
        reasons=list(run.verdict.reasons),
        inputs=run.inputs(),
        answer=run.answer_markdown,
        citations=run.citations,
        provider=run.provider,
        model=run.model[:200],
        prompt_version=run.prompt_version,
        calibrator=run.calibrator[:64],
        input_tokens=run.input_tokens,
        output_tokens=run.output_tokens,
        cost_usd=run.cost_usd,
        latency_ms=run.latency_ms,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    decision = row.decision
    after_commit(session, lambda: metrics.record_ai_decision(source, decision))
    return row


def as_response(row: AiDecision, run: engine.EngineRun | None = None) -> dict[str, Any]:
    """The public shape of a decision (the API's and `deskpilot ai answer`'s)."""
    return {
        "decision_id": row.id,
        "decision": row.decision,
        "answer": row.answer,
        "confidence": row.confidence,
        "citations": [
            {k: c.get(k) for k in ("article_id", "external_id", "chunk_id", "score")}
            for c in row.citations
        ],
        "reasons": list(row.reasons),
        "rule": row.rule,
        "reply": run.reply if run is not None else None,
        "escalation_reason": run.verdict.escalation_reason if run is not None else None,
    }


def answer_question(session: Session, ctx: Context, question: str) -> dict[str, Any]:
    """A dry run: what the engine would do with this question. Stores only the decision log."""
    text = validate_question(question)
    # Customers get the offline builtin: an open endpoint must not spend the workspace's tokens.
    run = engine.run(
        session, ctx, engine.Question(turns=(Turn("customer", text),)), builtin=not ctx.is_staff
    )
    row = record_decision(session, ctx, run, source="dry_run")
    response = as_response(row, run)
    if not ctx.is_staff and row.decision not in ANSWERED:
        # What the policy keeps from customers (a draft for the agent, the rules) stays hidden.
        response |= {"answer": None, "citations": [], "reasons": [CUSTOMER_REASON[row.decision]]}
    return response


def get_decision(session: Session, ctx: Context, decision_id: int) -> AiDecision:
    ctx.require_staff()
    return get_scoped(session, ctx, AiDecision, decision_id, what="AI decision")


def list_decisions(
    session: Session,
    ctx: Context,
    *,
    ticket_id: int | None = None,
    decision: str | None = None,
    source: str | None = None,
    since: datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[AiDecision], str | None]:
    """Oldest first (cursor pagination by id); filters combine with AND."""
    ctx.require_staff()
    stmt = scoped(ctx, AiDecision)
    if ticket_id is not None:
        stmt = stmt.where(AiDecision.ticket_id == ticket_id)
    if decision is not None:
        stmt = stmt.where(AiDecision.decision == decision)
    if source is not None:
        stmt = stmt.where(AiDecision.source == source)
    if since is not None:
        stmt = stmt.where(AiDecision.created_at >= since)
    return keyset_page(session, stmt, AiDecision.id, cursor=cursor, limit=limit)


def ticket_decisions(session: Session, ctx: Context, ticket_id: int) -> list[AiDecision]:
    """The AI's decisions on one ticket, oldest first (for the engine's turn rules)."""
    return list(
        session.scalars(
            scoped(ctx, AiDecision)
            .where(AiDecision.ticket_id == ticket_id, AiDecision.source == "ticket")
            .order_by(AiDecision.id)
        )
    )


def latest_answer(
    session: Session, ctx: Context, ticket_id: int, *, before: int | None = None
) -> AiDecision | None:
    """The newest answered decision (resolve/confirm) on a ticket, or the newest before the
    decision `before`."""
    stmt = scoped(ctx, AiDecision).where(
        AiDecision.ticket_id == ticket_id,
        AiDecision.source == "ticket",
        AiDecision.decision.in_(ANSWERED),
    )
    if before is not None:
        stmt = stmt.where(AiDecision.id < before)
    return session.scalars(stmt.order_by(AiDecision.id.desc()).limit(1)).first()


def set_outcome(decision: AiDecision, outcome: str) -> None:
    """Record what happened after a decision, once: the first outcome is the one that counts."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}")
    if decision.outcome is None:
        decision.outcome = outcome
        decision.outcome_at = utcnow()
        session = object_session(decision)
        if session is not None:
            after_commit(session, lambda: metrics.record_ai_outcome(outcome))


def confirm_answer(session: Session, ctx: Context, ticket_id: int, *, solved: bool) -> AiDecision:
    """The customer's "Did this solve your problem?": yes resolves the ticket, no hands it to a
    person. Allowed for the ticket's requester and for staff acting on their behalf."""
    ticket = tickets_service.get_ticket(session, ctx, ticket_id, for_update=True)
    if ctx.role == Role.customer and ticket.requester_id != ctx.contact_id:
        raise PermissionDenied("Only the requester can answer this")
    decision = latest_answer(session, ctx, ticket.id)
    if decision is None or decision.outcome is not None:
        raise Conflict("There is no AI answer waiting for confirmation on this ticket")
    apply_confirmation(session, ctx, ticket, decision, solved=solved)
    return decision


def apply_confirmation(
    session: Session, ctx: Context, ticket: Ticket, decision: AiDecision, *, solved: bool
) -> None:
    """Yes resolves the ticket; no hands it to a person. Either is the answer's outcome."""
    if solved:
        set_outcome(decision, "confirmed")
        if ticket.status != Status.resolved.value:
            tickets_service.change_status(
                session, ctx, ticket, Status.resolved, reason="customer_confirmed_ai_answer"
            )
        return
    # "No" to an auto-resolved ticket is a reopen; to a confirm question, a rejection.
    set_outcome(decision, "reopened" if decision.decision == "resolve" else "rejected")
    from deskpilot.triage import pipeline  # the hand-off lives with the pipeline

    pipeline.hand_off_after_rejection(session, ctx, ticket, decision)
