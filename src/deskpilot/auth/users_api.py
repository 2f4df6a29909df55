"""Workspace members (users) JSON routes: staff read, admins manage access, everyone edits themselves."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from sqlalchemy.orm import Session

from deskpilot.auth import service
from deskpilot.auth.schemas import (
    MemberCreate,
    MemberList,
    MemberRead,
    MemberUpdate,
    ProfileUpdate,
)
from deskpilot.core.context import Context, Role
from deskpilot.core.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from deskpilot.web.deps import AdminContext, CurrentContext, DbSession, StaffContext
from deskpilot.web.params import IdempotencyKey, IdPath, mark_created
from deskpilot.web.routing import TransactionalRoute
from deskpilot.workspaces import service as workspaces_service

router = APIRouter(prefix="/api/v1", tags=["users"], route_class=TransactionalRoute)
UserId = IdPath


def member_reads(
    session: Session, ctx: Context, members: Sequence[service.Member]
) -> list[MemberRead]:
    teams = workspaces_service.team_ids_by_user(session, ctx, [m.user_id for m in members])
    return [
        MemberRead(
            user_id=m.user_id,
            email=m.email,
            name=m.name,
            role=m.role,
            is_active=m.is_active,
            contact_id=m.contact_id,
            team_ids=teams[m.user_id],
            created_at=m.created_at,
        )
        for m in members
    ]


def member_read(session: Session, ctx: Context, member: service.Member) -> MemberRead:
    return member_reads(session, ctx, [member])[0]


def _me(ctx: Context) -> int:
    assert ctx.user_id is not None  # request contexts always carry the signed-in user
    return ctx.user_id


@router.get("/users", response_model=MemberList)
def list_users(
    session: DbSession,
    ctx: StaffContext,
    role: Role | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> MemberList:
    rows, next_cursor = service.list_members(
        session, ctx, role=role, q=q, limit=limit, cursor=cursor
    )
    return MemberList(items=member_reads(session, ctx, rows), next_cursor=next_cursor)


@router.post(
    "/users",
    status_code=status.HTTP_201_CREATED,
    response_model=MemberRead,
    responses={200: {"description": "Replayed Idempotency-Key: the member added first"}},
)
def create_user(
    data: MemberCreate,
    session: DbSession,
    ctx: AdminContext,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> MemberRead:
    member, created = service.create_member_with_key(
        session, ctx, data, idempotency_key=idempotency_key
    )
    mark_created(response, created, f"/api/v1/users/{member.user_id}")
    return member_read(session, ctx, member)


# /users/me is declared before /users/{user_id} so "me" is never parsed as an id.
@router.get("/users/me", response_model=MemberRead)
def get_me(session: DbSession, ctx: CurrentContext) -> MemberRead:
    return member_read(session, ctx, service.get_member(session, ctx, _me(ctx)))


@router.patch("/users/me", response_model=MemberRead)
def update_me(data: ProfileUpdate, session: DbSession, ctx: CurrentContext) -> MemberRead:
    return member_read(session, ctx, service.update_profile(session, ctx, data))


@router.get("/users/{user_id}", response_model=MemberRead)
def get_user(user_id: UserId, session: DbSession, ctx: StaffContext) -> MemberRead:
    return member_read(session, ctx, service.get_member(session, ctx, user_id))


@router.patch("/users/{user_id}", response_model=MemberRead)
def update_user(
    user_id: UserId, data: MemberUpdate, session: DbSession, ctx: AdminContext
) -> MemberRead:
    return member_read(session, ctx, service.update_member(session, ctx, user_id, data))


@router.delete("/users/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
def deactivate_user(user_id: UserId, session: DbSession, ctx: AdminContext) -> Response:
    service.deactivate_member(session, ctx, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
