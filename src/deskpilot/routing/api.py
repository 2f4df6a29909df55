"""Routing JSON routes: agent availability, team strategies and team queues (staff only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from deskpilot.core.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from deskpilot.routing import service
from deskpilot.routing.schemas import (
    AgentStatusList,
    AgentStatusRead,
    AgentStatusUpdate,
    Availability,
    TeamRoutingRead,
    TeamRoutingUpdate,
)
from deskpilot.tickets.schemas import TicketList, TicketRead
from deskpilot.web.deps import AdminContext, DbSession, StaffContext
from deskpilot.web.params import IdPath, OptionalIdQuery
from deskpilot.web.routing import TransactionalRoute

router = APIRouter(prefix="/api/v1", tags=["routing"], route_class=TransactionalRoute)
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
Cursor = Annotated[str | None, Query(max_length=512)]


def _agent_read(state: service.AgentState) -> AgentStatusRead:
    return AgentStatusRead(**vars(state))


def _routing_read(state: service.RoutingState) -> TeamRoutingRead:
    return TeamRoutingRead(**vars(state))


@router.get("/agents/status", response_model=AgentStatusList)
def list_agent_statuses(
    session: DbSession,
    ctx: StaffContext,
    team_id: OptionalIdQuery = None,
    availability: Availability | None = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> AgentStatusList:
    rows, next_cursor = service.list_agent_statuses(
        session, ctx, team_id=team_id, availability=availability, limit=limit, cursor=cursor
    )
    return AgentStatusList(items=[_agent_read(s) for s in rows], next_cursor=next_cursor)


@router.get("/agents/{user_id}/status", response_model=AgentStatusRead)
def get_agent_status(user_id: IdPath, session: DbSession, ctx: StaffContext) -> AgentStatusRead:
    return _agent_read(service.get_agent_status(session, ctx, user_id))


@router.put("/agents/{user_id}/status", response_model=AgentStatusRead)
def set_agent_status(
    user_id: IdPath, data: AgentStatusUpdate, session: DbSession, ctx: StaffContext
) -> AgentStatusRead:
    return _agent_read(service.set_agent_status(session, ctx, user_id, data))


@router.get("/teams/{team_id}/routing", response_model=TeamRoutingRead)
def get_team_routing(team_id: IdPath, session: DbSession, ctx: StaffContext) -> TeamRoutingRead:
    return _routing_read(service.get_team_routing(session, ctx, team_id))


@router.put("/teams/{team_id}/routing", response_model=TeamRoutingRead)
def set_team_routing(
    team_id: IdPath, data: TeamRoutingUpdate, session: DbSession, ctx: AdminContext
) -> TeamRoutingRead:
    return _routing_read(service.set_team_routing(session, ctx, team_id, data.strategy))


@router.get("/teams/{team_id}/queue", response_model=TicketList)
def team_queue(
    team_id: IdPath,
    session: DbSession,
    ctx: StaffContext,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> TicketList:
    rows, next_cursor = service.team_queue(session, ctx, team_id, limit=limit, cursor=cursor)
    return TicketList(items=[TicketRead.model_validate(t) for t in rows], next_cursor=next_cursor)
