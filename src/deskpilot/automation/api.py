"""Automation JSON routes: rules (staff read, admin write), defaults, dry runs and run history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from deskpilot.automation import defaults, service
from deskpilot.automation.schemas import (
    DefaultsResult,
    RuleCreate,
    RuleList,
    RuleMove,
    RuleRead,
    RuleTest,
    RuleTestResult,
    RuleUpdate,
    RunList,
    RunRead,
    Trigger,
)
from deskpilot.core.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from deskpilot.web.deps import AdminContext, DbSession, StaffContext
from deskpilot.web.params import IdempotencyKey, IdPath, OptionalIdQuery, mark_created
from deskpilot.web.routing import TransactionalRoute

router = APIRouter(prefix="/api/v1/automation", tags=["automation"], route_class=TransactionalRoute)


@router.get("/rules", response_model=RuleList)
def list_rules(session: DbSession, ctx: StaffContext, trigger: Trigger | None = None) -> RuleList:
    rows = service.list_rules(session, ctx, trigger=trigger)
    return RuleList(items=[RuleRead.model_validate(r) for r in rows])


@router.post("/rules", status_code=status.HTTP_201_CREATED, response_model=RuleRead)
def create_rule(
    data: RuleCreate,
    session: DbSession,
    ctx: AdminContext,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> RuleRead:
    rule, created = service.create_rule(session, ctx, data, idempotency_key=idempotency_key)
    mark_created(response, created, f"/api/v1/automation/rules/{rule.id}")
    return RuleRead.model_validate(rule)


@router.post("/rules/defaults", response_model=DefaultsResult)
def install_defaults(session: DbSession, ctx: AdminContext) -> DefaultsResult:
    installed = defaults.install_defaults(session, ctx)
    return DefaultsResult(
        created=[RuleRead.model_validate(r) for r in installed.created],
        existing=[RuleRead.model_validate(r) for r in installed.existing],
        skipped_actions=installed.skipped_actions,
    )


@router.get("/rules/{rule_id}", response_model=RuleRead)
def get_rule(rule_id: IdPath, session: DbSession, ctx: StaffContext) -> RuleRead:
    return RuleRead.model_validate(service.get_rule(session, ctx, rule_id))


@router.patch("/rules/{rule_id}", response_model=RuleRead)
def update_rule(
    rule_id: IdPath, data: RuleUpdate, session: DbSession, ctx: AdminContext
) -> RuleRead:
    return RuleRead.model_validate(service.update_rule(session, ctx, rule_id, data))


@router.post("/rules/{rule_id}/move", response_model=RuleRead)
def move_rule(rule_id: IdPath, data: RuleMove, session: DbSession, ctx: AdminContext) -> RuleRead:
    """One place up or down in its trigger's order; the trigger's rules are renumbered 0, 1, 2..."""
    return RuleRead.model_validate(service.move_rule(session, ctx, rule_id, data.direction))


@router.delete("/rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_rule(rule_id: IdPath, session: DbSession, ctx: AdminContext) -> Response:
    service.delete_rule(session, ctx, rule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/rules/{rule_id}/test", response_model=RuleTestResult)
def test_rule(
    rule_id: IdPath, data: RuleTest, session: DbSession, ctx: StaffContext
) -> RuleTestResult:
    """Dry run on one ticket: which conditions hold and which actions would run. Changes nothing."""
    result = service.test_rule(session, ctx, rule_id, data.ticket_id)
    return RuleTestResult.model_validate(result)


@router.get("/runs", response_model=RunList)
def list_runs(
    session: DbSession,
    ctx: StaffContext,
    ticket_id: OptionalIdQuery = None,
    rule_id: OptionalIdQuery = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> RunList:
    rows, next_cursor = service.list_runs(
        session, ctx, ticket_id=ticket_id, rule_id=rule_id, cursor=cursor, limit=limit
    )
    return RunList(items=[RunRead.model_validate(r) for r in rows], next_cursor=next_cursor)
