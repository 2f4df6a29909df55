"""Engine routes: dry-run answers, the decision log, and the customer's confirmation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from deskpilot.core.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from deskpilot.triage import service
from deskpilot.triage.schemas import (
    AnswerRead,
    AnswerRequestIn,
    ConfirmationIn,
    Decision,
    DecisionList,
    DecisionRead,
)
from deskpilot.web.deps import CurrentContext, DbSession, StaffContext
from deskpilot.web.params import IdPath, OptionalIdQuery
from deskpilot.web.routing import TransactionalRoute, waits_on_network

router = APIRouter(prefix="/api/v1", tags=["ai"], route_class=TransactionalRoute)


@router.post("/ai/answer", response_model=AnswerRead)
@waits_on_network  # the workspace's language model may be a remote provider
def answer(data: AnswerRequestIn, session: DbSession, ctx: CurrentContext) -> AnswerRead:
    """What the engine would do with a question: decision, answer, confidence, citations,
    reasons. A dry run: nothing is stored except the decision log entry."""
    return AnswerRead.model_validate(service.answer_question(session, ctx, data.question))


@router.get("/ai/decisions", response_model=DecisionList)
def list_decisions(
    session: DbSession,
    ctx: StaffContext,
    ticket_id: OptionalIdQuery = None,
    decision: Decision | None = None,
    source: Annotated[str | None, Query(pattern="^(dry_run|ticket|chat)$")] = None,
    since: AwareDatetime | None = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
) -> DecisionList:
    rows, next_cursor = service.list_decisions(
        session,
        ctx,
        ticket_id=ticket_id,
        decision=decision,
        source=source,
        since=since,
        cursor=cursor,
        limit=limit,
    )
    return DecisionList(
        items=[DecisionRead.model_validate(r) for r in rows], next_cursor=next_cursor
    )


@router.get("/ai/decisions/{decision_id}", response_model=DecisionRead)
def get_decision(decision_id: IdPath, session: DbSession, ctx: StaffContext) -> DecisionRead:
    return DecisionRead.model_validate(service.get_decision(session, ctx, decision_id))


@router.get("/tickets/{ticket_id}/ai-decisions", response_model=list[DecisionRead])
def ticket_decisions(
    ticket_id: IdPath, session: DbSession, ctx: StaffContext
) -> list[DecisionRead]:
    """The AI's audit trail on one ticket, oldest first."""
    from deskpilot.tickets import service as tickets_service

    ticket = tickets_service.get_ticket(session, ctx, ticket_id)
    return [
        DecisionRead.model_validate(r) for r in service.ticket_decisions(session, ctx, ticket.id)
    ]


@router.post("/tickets/{ticket_id}/ai-confirmation", response_model=DecisionRead)
def confirm(
    ticket_id: IdPath, data: ConfirmationIn, session: DbSession, ctx: CurrentContext
) -> DecisionRead:
    """The customer's answer to "Did this solve your problem?": `solved: true` resolves the
    ticket, `false` hands it to a person. 409 when no AI answer is waiting for one."""
    return DecisionRead.model_validate(
        service.confirm_answer(session, ctx, ticket_id, solved=data.solved)
    )
