"""The ticket pipeline: on a new ticket and on each customer reply, run the engine and act.

Job `ai.triage_ticket(ticket_id, message_id)` (message_id None for the ticket's description).
Its read-only prepare step runs the engine (classification, retrieval, the language model) outside
the write lock; the write step re-checks that nothing changed that makes the run moot, then acts:

- `resolve`: the answer is posted (public, author `ai`) and the ticket resolved;
- `confirm`/`clarify`: the answer or question is posted, the ticket waits on the customer;
- `escalate`: an internal note with the reasons and the draft answer, an escalation record with a
  summary, routed to the category's team; the ticket goes `in_progress`.

Each run stores one `ai_decisions` row (inputs, rule, outcome) keyed by its trigger message, so a
retried job never acts twice. A run is skipped when a person has replied since the trigger (a
human owns the conversation) or a newer customer message exists (its own job answers it).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from deskpilot.ai import ticket_models
from deskpilot.ai.embeddings import default_embedder
from deskpilot.core.context import ActorType, Context
from deskpilot.escalations import service as escalations_service
from deskpilot.jobs.queue import enqueue
from deskpilot.kb import metrics as kb_metrics
from deskpilot.tickets import annotations as ticket_annotations
from deskpilot.tickets import service as tickets_service
from deskpilot.tickets.lifecycle import Priority, Status
from deskpilot.tickets.models import Message, Ticket
from deskpilot.tickets.schemas import MessageCreate
from deskpilot.triage import engine, signals
from deskpilot.triage import service as triage_service
from deskpilot.triage.answering import Turn
from deskpilot.triage.models import AiDecision
from deskpilot.triage.policy import DecisionPolicy, get_policy, load_policy
from deskpilot.workspaces.models import Team

log = logging.getLogger(__name__)

TRIAGE_JOB = "ai.triage_ticket"
# Predictions are copied onto the ticket only when the model is at least this sure.
SET_TYPE_CONFIDENCE = 0.6
RAISE_PRIORITY_CONFIDENCE = 0.7
PRIORITY_ORDER = [p.value for p in Priority]
CLOSED = (Status.closed.value,)

_enabled = True


def set_enabled(enabled: bool) -> None:
    """Process-wide switch (DESKPILOT_AI_PIPELINE; the test suite turns it off by default)."""
    global _enabled
    _enabled = enabled


@contextmanager
def suspended() -> Iterator[None]:
    """No AI runs queued inside the block (e.g. while seeding historical sample tickets)."""
    global _enabled
    before, _enabled = _enabled, False
    try:
        yield
    finally:
        _enabled = before


def warm_up_in_background() -> threading.Thread:
    """Load the embedder and the ticket classifiers now: the first load takes seconds (imports,
    weights), which would otherwise land on the first ticket after every start."""

    def load() -> None:
        try:
            default_embedder().embed(["warm up"])
            ticket_models.warm_up()
        except Exception:  # a warm-up failure must not stop the worker; the first job retries
            log.exception("AI warm-up failed; models load on first use instead")

    thread = threading.Thread(target=load, name="ai-warm-up", daemon=True)
    thread.start()
    return thread


def policy_allows(session: Session, workspace_id: int) -> bool:
    if not _enabled:
        return False
    return get_policy(session, Context.system(workspace_id)).auto_reply_enabled


def request_triage(
    session: Session, ctx: Context, ticket: Ticket, message_id: int | None = None
) -> None:
    """Queue the pipeline for a new ticket or customer message (in the caller's transaction)."""
    if policy_allows(session, ctx.workspace_id):
        enqueue(
            session,
            TRIAGE_JOB,
            workspace_id=ctx.workspace_id,
            ticket_id=ticket.id,
            message_id=message_id,
        )


def _turns(ticket: Ticket, messages: list[Message]) -> tuple[Turn, ...]:
    turns = [Turn("customer", ticket.description)] if ticket.description.strip() else []
    for message in messages:
        if message.visibility != "public" or message.author_type == "system":
            continue
        turns.append(Turn(message.author_type, message.body))
    return tuple(turns)


def _moot(ticket: Ticket, messages: list[Message], message_id: int | None) -> str | None:
    """Why running now would be wrong, or None."""
    if ticket.merged_into_id is not None:
        return "merged"
    if ticket.status in CLOSED:
        return "closed"
    after = [m for m in messages if message_id is None or m.id > message_id]
    if any(m.author_type == "customer" for m in after):
        return "newer_customer_message"
    # Once a person has written to the customer, the conversation is theirs: the AI stays out.
    if any(m.author_type == "agent" and m.visibility == "public" for m in messages):
        return "human_owned"
    return None


def _question(
    ticket: Ticket, messages: list[Message], history: list[AiDecision], policy: DecisionPolicy
) -> engine.Question:
    confidences = [d.confidence for d in history]
    return engine.Question(
        turns=_turns(ticket, messages),
        subject=ticket.subject,
        ticket_id=ticket.id,
        ticket_type=ticket.type,
        category=ticket.category,
        priority=ticket.priority,
        impact=ticket.impact,
        ai_turns=sum(1 for m in messages if m.author_type == "ai" and m.visibility == "public"),
        low_confidence_streak=engine.low_confidence_streak(confidences, policy.confirm_threshold),
        clarifications=sum(1 for d in history if d.decision == "clarify"),
    )


def _already_decided(session: Session, ticket_id: int, message_id: int | None) -> bool:
    stmt = select(func.count()).where(
        AiDecision.ticket_id == ticket_id,
        AiDecision.source == "ticket",
        AiDecision.trigger_message_id.is_(None)
        if message_id is None
        else AiDecision.trigger_message_id == message_id,
    )
    return bool(session.scalar(stmt))


def _confirmation(
    history: list[AiDecision], messages: list[Message], message_id: int | None
) -> bool | None:
    """The customer's plain yes or no to the AI's latest answer, if this message is one."""
    if message_id is None or not history:
        return None
    latest = history[-1]
    if latest.decision not in triage_service.ANSWERED or latest.outcome is not None:
        return None
    message = next((m for m in messages if m.id == message_id), None)
    if message is None or latest.reply_message_id is None or message.id < latest.reply_message_id:
        return None
    return signals.confirmation(message.body)


def prepare(
    session: Session, *, workspace_id: int, ticket_id: int, message_id: int | None
) -> dict[str, Any]:
    ctx = Context.system(workspace_id, ActorType.ai)
    ticket = session.get(Ticket, ticket_id)
    if ticket is None or ticket.workspace_id != workspace_id:
        return {"skip": "ticket_missing"}
    messages = tickets_service.list_messages(session, ctx, ticket)
    reason = _moot(ticket, messages, message_id)
    if reason is None and _already_decided(session, ticket_id, message_id):
        reason = "already_decided"
    if reason is None and escalations_service.get_open_escalation(session, ctx, ticket_id):
        reason = "escalated"  # handed to people, who answer from here
    if reason is not None:
        return {"skip": reason}
    policy = get_policy(session, ctx)
    if not policy.auto_reply_enabled:
        return {"skip": "disabled"}
    history = triage_service.ticket_decisions(session, ctx, ticket_id)
    answer = _confirmation(history, messages, message_id)
    if answer is not None:
        return {
            "confirmation": answer,
            "decision_id": history[-1].id,
            "last_message_id": messages[-1].id if messages else None,
        }
    question = _question(ticket, messages, history, policy)
    run = engine.run(session, ctx, question, policy=policy, record_usage=False)
    return {"run": run, "last_message_id": messages[-1].id if messages else None}


def apply(
    session: Session,
    *,
    prepared: dict[str, Any],
    workspace_id: int,
    ticket_id: int,
    message_id: int | None,
) -> None:
    if "skip" in prepared:
        log.info("AI triage of ticket %s skipped: %s", ticket_id, prepared["skip"])
        return
    ctx = Context.system(workspace_id, ActorType.ai)
    ticket = tickets_service.get_ticket(session, ctx, ticket_id, for_update=True)
    messages = tickets_service.list_messages(session, ctx, ticket)
    latest_id = messages[-1].id if messages else None
    # Someone wrote, resolved or escalated while the engine ran, or another worker already
    # acted: let that stand.
    if (
        latest_id != prepared["last_message_id"]
        or _already_decided(session, ticket_id, message_id)
        or ticket.status in (Status.resolved.value, Status.closed.value)
        or ("run" in prepared and escalations_service.get_open_escalation(session, ctx, ticket.id))
    ):
        log.info("AI triage of ticket %s skipped: the conversation moved on", ticket_id)
        return
    if "confirmation" in prepared:
        decision = session.get(AiDecision, prepared["decision_id"])
        if decision is not None and decision.outcome is None:
            triage_service.apply_confirmation(
                session, ctx, ticket, decision, solved=prepared["confirmation"]
            )
        return
    run: engine.EngineRun = prepared["run"]
    _copy_predictions(session, ctx, ticket, run)
    decision = triage_service.record_decision(
        session, ctx, run, source="ticket", ticket_id=ticket.id, trigger_message_id=message_id
    )
    _close_previous_answers(session, ctx, ticket.id, decision.id)
    verdict = run.verdict
    if verdict.decision == "escalate":
        _escalate(session, ctx, ticket, run, decision)
    elif run.reply:
        reply = tickets_service.add_message(
            session,
            ctx,
            ticket.id,
            MessageCreate(body=run.reply, visibility="public"),
            ai_meta=_ai_meta(run, decision),
        )
        decision.reply_message_id = reply.id
        target = Status.resolved if verdict.decision == "resolve" else Status.waiting_customer
        tickets_service.change_status(session, ctx, ticket, target, reason=f"ai_{verdict.decision}")
    ticket_annotations.record_ai_verdict(
        session,
        ctx,
        ticket,
        decision=verdict.decision,
        confidence=run.confidence,
        model=f"{run.provider}:{run.model}" if run.model else run.provider,
        classification=run.classification,
        rule=verdict.rule,
    )
    cited = [int(c["article_id"]) for c in run.citations]
    if cited:
        kb_metrics.bump(session, workspace_id, cited, "ai_references")


def _ai_meta(run: engine.EngineRun, decision: AiDecision) -> dict[str, Any]:
    return {
        "decision_id": decision.id,
        "decision": decision.decision,
        "confidence": run.confidence,
        "citations": run.citations,
        "provider": run.provider,
        "model": run.model,
        "prompt_version": run.prompt_version,
        "input_tokens": run.input_tokens,
        "output_tokens": run.output_tokens,
        "cost_usd": run.cost_usd,
    }


def _copy_predictions(
    session: Session, ctx: Context, ticket: Ticket, run: engine.EngineRun
) -> None:
    """Fill what the requester left empty; raise (never lower) priority when the model is sure."""
    predicted = run.classification or {}
    changes: dict[str, Any] = {}
    type_guess = predicted.get("type") or {}
    if ticket.type is None and type_guess.get("confidence", 0) >= SET_TYPE_CONFIDENCE:
        changes["type"] = type_guess["label"]
    category = predicted.get("category") or {}
    if ticket.category is None and category and not category.get("out_of_scope"):
        changes["category"] = category["label"]
    priority = predicted.get("priority") or {}
    if (
        priority.get("confidence", 0) >= RAISE_PRIORITY_CONFIDENCE
        and priority.get("label") in PRIORITY_ORDER
        and PRIORITY_ORDER.index(priority["label"]) > PRIORITY_ORDER.index(ticket.priority)
    ):
        changes["priority"] = priority["label"]
    if changes:
        ticket_annotations.apply_ai_fields(session, ctx, ticket, changes)


def _close_previous_answers(session: Session, ctx: Context, ticket_id: int, current: int) -> None:
    """A new customer message after an AI answer means that answer did not settle it."""
    previous = triage_service.latest_answer(session, ctx, ticket_id, before=current)
    if previous is not None and previous.outcome is None:
        triage_service.set_outcome(
            previous, "reopened" if previous.decision == "resolve" else "rejected"
        )


def _escalate(
    session: Session, ctx: Context, ticket: Ticket, run: engine.EngineRun, decision: AiDecision
) -> None:
    policy = load_policy(run.policy)
    lines = ["**AI hand-off** — " + "; ".join(run.verdict.reasons)]
    lines.append(f"Confidence {run.confidence:.2f} (rule `{run.verdict.rule}`).")
    if run.answer_markdown:
        lines += ["", "Draft answer (not sent):", "", run.answer_markdown]
    note = tickets_service.add_message(
        session,
        ctx,
        ticket.id,
        MessageCreate(body="\n".join(lines), visibility="internal"),
        ai_meta=_ai_meta(run, decision),
    )
    decision.reply_message_id = note.id
    escalations_service.escalate_ticket(
        session,
        ctx,
        ticket.id,
        reason=run.verdict.escalation_reason or "low_confidence",
        team_id=_team_for(session, ctx, policy, _category(ticket, run.classification), ticket),
        ai_confidence=run.confidence,
        attempted={
            "decision": run.verdict.decision,
            "rule": run.verdict.rule,
            "draft": run.answer_markdown,
            "citations": run.citations,
        },
        decision_id=decision.id,
    )


def _team_for(
    session: Session, ctx: Context, policy: DecisionPolicy, category: str | None, ticket: Ticket
) -> int | None:
    """The policy's team for the category; the ticket's own team when there is none, or when the
    configured team was deleted after the policy was saved (routing must not fail the job)."""
    team_id = policy.team_for(category)
    if team_id is None:
        return ticket.team_id
    exists = session.scalar(
        select(Team.id).where(Team.id == team_id, Team.workspace_id == ctx.workspace_id)
    )
    return team_id if exists is not None else ticket.team_id


def _category(ticket: Ticket, classification: dict[str, Any] | None) -> str | None:
    predicted = (classification or {}).get("category") or {}
    if ticket.category:
        return ticket.category
    return None if predicted.get("out_of_scope") else predicted.get("label")


def hand_off_after_rejection(
    session: Session, ctx: Context, ticket: Ticket, decision: AiDecision
) -> None:
    """The customer said the AI's answer did not help: a person takes over."""
    if ticket.status in (Status.waiting_customer.value, Status.resolved.value):
        tickets_service.change_status(
            session, ctx, ticket, Status.in_progress, reason="customer_rejected_ai_answer"
        )
    policy = load_policy(decision.inputs.get("policy") or {})
    category = _category(ticket, decision.inputs.get("classification"))
    escalations_service.escalate_ticket(
        session,
        Context.system(ctx.workspace_id, ActorType.ai),
        ticket.id,
        reason="low_confidence",
        team_id=_team_for(session, ctx, policy, category, ticket),
        ai_confidence=decision.confidence,
        attempted={"decision": decision.decision, "draft": decision.answer, "customer": "rejected"},
        decision_id=decision.id,
    )
