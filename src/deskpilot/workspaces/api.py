"""Team JSON routes: staff read, admins change."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from sqlalchemy.orm import Session

from deskpilot.core.context import Context
from deskpilot.core.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from deskpilot.web.deps import AdminContext, DbSession, StaffContext
from deskpilot.web.params import IdempotencyKey, IdPath, mark_created
from deskpilot.web.routing import TransactionalRoute
from deskpilot.workspaces import service
from deskpilot.workspaces.models import Team
from deskpilot.workspaces.schemas import TeamCreate, TeamList, TeamRead, TeamUpdate

router = APIRouter(prefix="/api/v1", tags=["teams"], route_class=TransactionalRoute)
TeamId = IdPath
UserId = IdPath


def team_reads(session: Session, ctx: Context, teams: Sequence[Team]) -> list[TeamRead]:
    members = service.member_ids_by_team(session, ctx, [t.id for t in teams])
    return [
        TeamRead(
            id=t.id,
            name=t.name,
            description=t.description,
            member_ids=members[t.id],
            created_at=t.created_at,
            updated_at=t.updated_at,
        )
        for t in teams
    ]


def team_read(session: Session, ctx: Context, team: Team) -> TeamRead:
    return team_reads(session, ctx, [team])[0]


@router.get("/teams", response_model=TeamList)
def list_teams(
    session: DbSession,
    ctx: StaffContext,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> TeamList:
    rows, next_cursor = service.list_teams(session, ctx, limit=limit, cursor=cursor)
    return TeamList(items=team_reads(session, ctx, rows), next_cursor=next_cursor)


@router.post(
    "/teams",
    status_code=status.HTTP_201_CREATED,
    response_model=TeamRead,
    responses={200: {"description": "Replayed Idempotency-Key: the team created first"}},
)
def create_team(
    data: TeamCreate,
    session: DbSession,
    ctx: AdminContext,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> TeamRead:
    team, created = service.create_team_with_key(
        session, ctx, data, idempotency_key=idempotency_key
    )
    mark_created(response, created, f"/api/v1/teams/{team.id}")
    return team_read(session, ctx, team)


@router.get("/teams/{team_id}", response_model=TeamRead)
def get_team(team_id: TeamId, session: DbSession, ctx: StaffContext) -> TeamRead:
    return team_read(session, ctx, service.get_team(session, ctx, team_id))


@router.patch("/teams/{team_id}", response_model=TeamRead)
def update_team(
    team_id: TeamId, data: TeamUpdate, session: DbSession, ctx: AdminContext
) -> TeamRead:
    return team_read(session, ctx, service.update_team(session, ctx, team_id, data))


@router.delete("/teams/{team_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_team(team_id: TeamId, session: DbSession, ctx: AdminContext) -> Response:
    service.delete_team(session, ctx, team_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/teams/{team_id}/members/{user_id}", response_model=TeamRead)
def add_team_member(
    team_id: TeamId, user_id: UserId, session: DbSession, ctx: AdminContext
) -> TeamRead:
    service.add_team_member(session, ctx, team_id, user_id)
    return team_read(session, ctx, service.get_team(session, ctx, team_id))


@router.delete("/teams/{team_id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_team_member(
    team_id: TeamId, user_id: UserId, session: DbSession, ctx: AdminContext
) -> Response:
    service.remove_team_member(session, ctx, team_id, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
