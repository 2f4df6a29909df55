"""Agent availability, capacity and skills; each team's strategy; team queues."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from deskpilot.auth.models import Membership, User
from deskpilot.core.context import Context
from deskpilot.core.errors import NotFound, PermissionDenied
from deskpilot.core.pagination import DEFAULT_PAGE_SIZE
from deskpilot.db.pagination import keyset_page
from deskpilot.db.scoped import scoped
from deskpilot.routing import assign
from deskpilot.routing.models import AgentStatus, TeamRouting
from deskpilot.routing.schemas import (
    DEFAULT_CAPACITY,
    AgentStatusUpdate,
    Availability,
    Strategy,
    normalize_skills,
)
from deskpilot.tickets.lifecycle import OPEN_STATUSES
from deskpilot.tickets.listing import TicketFilters, list_tickets
from deskpilot.tickets.models import Ticket
from deskpilot.workspaces import service as workspaces_service


@dataclass(frozen=True)
class AgentState:
    """An agent's routing state; agents who never set one are offline with default capacity."""

    user_id: int
    name: str
    email: str
    availability: Availability
    capacity: int
    skills: list[str]
    open_tickets: int
    updated_at: datetime | None


@dataclass(frozen=True)
class RoutingState:
    team_id: int
    strategy: Strategy
    last_assigned_user_id: int | None
    updated_at: datetime | None


def _state(user_id: int, who: tuple[str, str], row: AgentStatus | None, load: int) -> AgentState:
    return AgentState(
        user_id=user_id,
        name=who[0],
        email=who[1],
        availability=Availability(row.availability) if row else Availability.offline,
        capacity=row.capacity if row else DEFAULT_CAPACITY,
        skills=list(row.skills) if row else [],
        open_tickets=load,
        updated_at=row.updated_at if row else None,
    )


def _find_status(
    session: Session, ctx: Context, user_id: int, *, for_update: bool = False
) -> AgentStatus | None:
    stmt = scoped(ctx, AgentStatus).where(AgentStatus.user_id == user_id)
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).one_or_none()


def _require_agent(session: Session, ctx: Context, user_id: int) -> tuple[str, str]:
    who = assign.active_staff(session, ctx, [user_id]).get(user_id)
    if who is None:
        raise NotFound(f"Agent {user_id} not found")
    return who


# --- agent status --------------------------------------------------------------------------------


def get_agent_status(session: Session, ctx: Context, user_id: int) -> AgentState:
    ctx.require_staff()
    who = _require_agent(session, ctx, user_id)
    load = assign.open_loads(session, ctx, [user_id])[user_id]
    return _state(user_id, who, _find_status(session, ctx, user_id), load)


def list_agent_statuses(
    session: Session,
    ctx: Context,
    *,
    team_id: int | None = None,
    availability: Availability | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
) -> tuple[list[AgentState], str | None]:
    """Active staff in user-id order with their routing state and current open-ticket load."""
    ctx.require_staff()
    stmt = (
        select(Membership.user_id, User.name, User.email, AgentStatus)
        .join(User, User.id == Membership.user_id)
        .outerjoin(
            AgentStatus,
            (AgentStatus.workspace_id == Membership.workspace_id)
            & (AgentStatus.user_id == Membership.user_id),
        )
        .where(
            Membership.workspace_id == ctx.workspace_id,
            Membership.role.in_(assign.STAFF_ROLE_VALUES),
            Membership.is_active.is_(True),
            User.is_active.is_(True),
        )
    )
    if team_id is not None:
        member_ids = workspaces_service.list_team_member_ids(session, ctx, team_id)
        stmt = stmt.where(Membership.user_id.in_(member_ids))
    if availability == Availability.offline:
        stmt = stmt.where(
            AgentStatus.id.is_(None) | (AgentStatus.availability == Availability.offline.value)
        )
    elif availability is not None:
        stmt = stmt.where(AgentStatus.availability == availability.value)
    rows, next_cursor = keyset_page(
        session,
        cast("Select[Any]", stmt),
        Membership.user_id,
        limit=limit,
        cursor=cursor,
        scalars=False,
        last_id=lambda row: int(row[0]),
    )
    loads = assign.open_loads(session, ctx, [row[0] for row in rows])
    states = [
        _state(user_id, (name, email), status, loads[user_id])
        for user_id, name, email, status in rows
    ]
    return states, next_cursor


def set_agent_status(
    session: Session, ctx: Context, user_id: int, data: AgentStatusUpdate
) -> AgentState:
    """Change the fields given. Agents set their own availability; admins set anything.

    An agent who comes online (or gets more capacity or new skills) while online pulls the queued
    tickets of their routed teams right away, within this transaction.
    """
    ctx.require_staff()
    who = _require_agent(session, ctx, user_id)
    changes = data.model_dump(exclude_unset=True)
    if user_id != ctx.user_id:
        if not ctx.is_admin:
            raise PermissionDenied("Only admins change another agent's status")
    elif ({"capacity", "skills"} & changes.keys()) and not ctx.is_admin:
        raise PermissionDenied("Only admins change capacity and skills")
    # Lock order shared with assignment: the agent's teams' routing rows, then the agent's row.
    team_ids = workspaces_service.team_ids_by_user(session, ctx, [user_id])[user_id]
    routings = assign.lock_routings(session, ctx, team_ids)
    row = _find_status(session, ctx, user_id, for_update=True) or _create_status(
        session, ctx, user_id
    )
    before = (row.availability, row.capacity, sorted(row.skills))
    if "availability" in changes:
        row.availability = changes["availability"].value
    if "capacity" in changes:
        row.capacity = changes["capacity"]
    if "skills" in changes:
        row.skills = normalize_skills(changes["skills"])
    session.flush()
    if row.availability == Availability.online.value and before != (
        row.availability,
        row.capacity,
        sorted(row.skills),
    ):
        system = Context.system(ctx.workspace_id)
        for routing in routings:
            assign.drain_queue(session, system, routing)
    load = assign.open_loads(session, ctx, [user_id])[user_id]
    return _state(user_id, who, row, load)


def _create_status(session: Session, ctx: Context, user_id: int) -> AgentStatus:
    """A first status row: offline until someone says otherwise (what reads showed before)."""
    row = AgentStatus(
        workspace_id=ctx.workspace_id,
        user_id=user_id,
        availability=Availability.offline.value,
        capacity=DEFAULT_CAPACITY,
        skills=[],
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        # A concurrent request created it first: use theirs, locked.
        existing = _find_status(session, ctx, user_id, for_update=True)
        if existing is None:  # pragma: no cover - the violation implies the row exists
            raise
        return existing
    return row


# --- team routing --------------------------------------------------------------------------------


def _routing_state(team_id: int, row: TeamRouting | None) -> RoutingState:
    if row is None:
        return RoutingState(team_id, Strategy.manual, None, None)
    return RoutingState(team_id, Strategy(row.strategy), row.last_assigned_user_id, row.updated_at)


def get_team_routing(session: Session, ctx: Context, team_id: int) -> RoutingState:
    ctx.require_staff()
    team = workspaces_service.get_team(session, ctx, team_id)
    row = session.scalars(
        scoped(ctx, TeamRouting).where(TeamRouting.team_id == team.id)
    ).one_or_none()
    return _routing_state(team.id, row)


def set_team_routing(
    session: Session, ctx: Context, team_id: int, strategy: Strategy
) -> RoutingState:
    """Choose how the team's tickets are assigned. Switching to an automatic strategy hands out
    the queue that waited meanwhile."""
    ctx.require_admin()
    team = workspaces_service.get_team(session, ctx, team_id)
    rows = assign.lock_routings(session, ctx, [team.id])
    row = rows[0] if rows else _create_routing(session, ctx, team.id)
    row.strategy = strategy.value
    session.flush()
    assign.drain_queue(session, Context.system(ctx.workspace_id), row)
    return _routing_state(team.id, row)


def _create_routing(session: Session, ctx: Context, team_id: int) -> TeamRouting:
    row = TeamRouting(
        workspace_id=ctx.workspace_id, team_id=team_id, strategy=Strategy.manual.value
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        existing = assign.lock_routings(session, ctx, [team_id])
        if not existing:  # pragma: no cover - the violation implies the row exists
            raise
        return existing[0]
    return row


# --- team queues ---------------------------------------------------------------------------------


def team_queue(
    session: Session,
    ctx: Context,
    team_id: int,
    *,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
) -> tuple[list[Ticket], str | None]:
    """The team's open, unassigned tickets, oldest first: the ticket list with fixed filters."""
    ctx.require_staff()
    team = workspaces_service.get_team(session, ctx, team_id)
    filters = TicketFilters(status=sorted(OPEN_STATUSES), team_id=team.id, unassigned=True)
    return list_tickets(session, ctx, filters, sort="created_at", limit=limit, cursor=cursor)
