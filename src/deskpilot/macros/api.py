"""Macro JSON routes (staff only): manage, search, preview and apply macros."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from deskpilot.core.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from deskpilot.macros import service
from deskpilot.macros.models import Macro
from deskpilot.macros.rendering import VARIABLES
from deskpilot.macros.schemas import (
    MacroApplyResult,
    MacroCreate,
    MacroList,
    MacroRead,
    MacroUpdate,
    VariableRead,
)
from deskpilot.tickets.schemas import MessageRead, TicketRead
from deskpilot.web.deps import DbSession, StaffContext
from deskpilot.web.params import IdempotencyKey, IdPath, mark_created
from deskpilot.web.routing import TransactionalRoute

router = APIRouter(prefix="/api/v1", tags=["macros"], route_class=TransactionalRoute)


def macro_read(macro: Macro) -> MacroRead:
    return MacroRead(
        id=macro.id,
        name=macro.name,
        body=macro.body,
        visibility=macro.visibility,
        changes=macro.changes,
        shared=macro.owner_user_id is None,
        owner_user_id=macro.owner_user_id,
        usage_count=macro.usage_count,
        created_at=macro.created_at,
        updated_at=macro.updated_at,
    )


@router.get("/macros", response_model=MacroList)
def list_macros(
    session: DbSession,
    ctx: StaffContext,
    q: Annotated[str | None, Query(max_length=200)] = None,
    shared: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> MacroList:
    rows, next_cursor = service.list_macros(
        session, ctx, q=q, shared=shared, limit=limit, cursor=cursor
    )
    return MacroList(items=[macro_read(m) for m in rows], next_cursor=next_cursor)


@router.post(
    "/macros",
    status_code=status.HTTP_201_CREATED,
    response_model=MacroRead,
    responses={200: {"description": "Replayed Idempotency-Key: the macro created first"}},
)
def create_macro(
    data: MacroCreate,
    session: DbSession,
    ctx: StaffContext,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> MacroRead:
    macro, created = service.create_macro(session, ctx, data, idempotency_key=idempotency_key)
    mark_created(response, created, f"/api/v1/macros/{macro.id}")
    return macro_read(macro)


@router.get("/macros/variables", response_model=list[VariableRead])
def list_variables(ctx: StaffContext) -> list[VariableRead]:
    return [VariableRead(name=name, description=text) for name, text in VARIABLES.items()]


@router.get("/macros/{macro_id}", response_model=MacroRead)
def get_macro(macro_id: IdPath, session: DbSession, ctx: StaffContext) -> MacroRead:
    return macro_read(service.get_macro(session, ctx, macro_id))


@router.patch("/macros/{macro_id}", response_model=MacroRead)
def update_macro(
    macro_id: IdPath, data: MacroUpdate, session: DbSession, ctx: StaffContext
) -> MacroRead:
    return macro_read(service.update_macro(session, ctx, macro_id, data))


@router.delete("/macros/{macro_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_macro(macro_id: IdPath, session: DbSession, ctx: StaffContext) -> Response:
    service.delete_macro(session, ctx, macro_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/tickets/{ticket_id}/macros/{macro_id}/apply", response_model=MacroApplyResult)
def apply_macro(
    ticket_id: IdPath,
    macro_id: IdPath,
    session: DbSession,
    ctx: StaffContext,
    preview: bool = False,
) -> MacroApplyResult:
    applied = service.apply_macro(session, ctx, ticket_id, macro_id, preview=preview)
    return MacroApplyResult(
        preview=applied.preview,
        rendered=applied.rendered,
        visibility=applied.visibility,
        changes=applied.changes,
        message=MessageRead.model_validate(applied.message) if applied.message else None,
        ticket=TicketRead.model_validate(applied.ticket),
    )
