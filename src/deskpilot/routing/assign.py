"""Automatic assignment within a team: who gets the next ticket, never above anyone's capacity.

Serialization: every assignment for a team first locks the team's `team_routing` row, then the
`agent_status` rows of its members (ascending user id), and only then counts loads. Two
transactions assigning for one team therefore run one after the other and the second sees the
first one's committed assignment (PostgreSQL READ COMMITTED re-reads after a lock wait), so
capacity holds and round-robin never skips; an agent on two teams is protected by their own row
lock. Status changes lock in the same order (teams ascending, then agents). On SQLite the
database-wide write lock already serializes writers and the row locks are no-ops.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from deskpilot.auth.models import Membership, User
from deskpilot.core.context import Context, Role
from deskpilot.db.scoped import scoped
from deskpilot.routing.models import AgentStatus, TeamRouting
from deskpilot.routing.schemas import Availability, Strategy
from deskpilot.tickets import service as tickets_service
from deskpilot.tickets.lifecycle import OPEN_STATUSES, Status
from deskpilot.tickets.listing import TicketFilters, list_tickets
from deskpilot.tickets.models import Ticket
from deskpilot.tickets.schemas import TicketUpdate
from deskpilot.workspaces import service as workspaces_service

STAFF_ROLE_VALUES = (Role.owner.value, Role.admin.value, Role.agent.value)
DRAIN_BATCH = 100
"""Queued tickets handed out per team when capacity frees up (the rest wait for the next pull)."""


# --- shared queries ------------------------------------------------------------------------------


def active_staff(
    session: Session, ctx: Context, user_ids: Sequence[int]
) -> dict[int, tuple[str, str]]:
    """Active staff among `user_ids` -> (name, email), in one query.

    Reads auth's tables directly: auth has no batch lookup, and a team needs one query, not one
    per member.
    """
    if not user_ids:
        return {}
    rows = session.execute(
        select(Membership.user_id, User.name, User.email)
        .join(User, User.id == Membership.user_id)
        .where(
            Membership.workspace_id == ctx.workspace_id,
            Membership.user_id.in_(user_ids),
            Membership.role.in_(STAFF_ROLE_VALUES),
            Membership.is_active.is_(True),
            User.is_active.is_(True),
        )
    )
    return {user_id: (name, email) for user_id, name, email in rows}


def open_loads(session: Session, ctx: Context, user_ids: Sequence[int]) -> dict[int, int]:
    """Open tickets (not resolved or closed) assigned to each user, in one grouped query."""
    loads = dict.fromkeys(user_ids, 0)
    if not user_ids:
        return loads
    rows = session.execute(
        select(Ticket.assignee_id, func.count())
        .where(
            Ticket.workspace_id == ctx.workspace_id,
            Ticket.assignee_id.in_(user_ids),
            Ticket.status.in_([s.value for s in OPEN_STATUSES]),
        )
        .group_by(Ticket.assignee_id)
    )
    for user_id, count in rows:
        if user_id is not None:
            loads[int(user_id)] = int(count)
    return loads


def has_room(session: Session, ctx: Context, user_id: int) -> bool:
    """Whether an automatic assignment may give this agent one more ticket: online and below
    capacity. Locks the agent's status row, as team routing does, so concurrent automatic
    assignments cannot both take the last slot."""
    status = session.scalars(
        scoped(ctx, AgentStatus).where(AgentStatus.user_id == user_id).with_for_update()
    ).first()
    if status is None or status.availability != "online":
        return False
    return open_loads(session, ctx, [user_id])[user_id] < status.capacity


def lock_routings(session: Session, ctx: Context, team_ids: Sequence[int]) -> list[TeamRouting]:
    """Lock the routing rows of these teams in team-id order (rows that exist; none = manual)."""
    if not team_ids:
        return []
    stmt = (
        scoped(ctx, TeamRouting)
        .where(TeamRouting.team_id.in_(sorted(set(team_ids))))
        .order_by(TeamRouting.team_id)
        .with_for_update()
    )
    return list(session.scalars(stmt))


# --- choosing an agent ---------------------------------------------------------------------------


@dataclass
class Candidate:
    user_id: int
    capacity: int
    skills: frozenset[str]
    load: int

    @property
    def has_room(self) -> bool:
        return self.load < self.capacity


@dataclass
class Picker:
    """The team's eligible agents and round-robin cursor; `pick` also books the ticket."""

    strategy: Strategy
    candidates: list[Candidate]  # ascending user id: the stable round-robin order
    last_assigned_user_id: int | None
    picked: list[int] = field(default_factory=list)

    def pick(self, category: str | None) -> int | None:
        eligible = [c for c in self.candidates if c.has_room]
        if category:
            skilled = [c for c in eligible if category.strip().casefold() in c.skills]
            if skilled:
                eligible = skilled
        if not eligible:
            return None
        if self.strategy == Strategy.least_load:
            fewest = min(c.load for c in eligible)
            eligible = [c for c in eligible if c.load == fewest]
        chosen = self._next_in_turn(eligible)
        chosen.load += 1
        self.last_assigned_user_id = chosen.user_id
        self.picked.append(chosen.user_id)
        return chosen.user_id

    def _next_in_turn(self, eligible: list[Candidate]) -> Candidate:
        """The first eligible agent after the one who got the last ticket, wrapping around."""
        last = self.last_assigned_user_id
        if last is not None:
            for candidate in eligible:
                if candidate.user_id > last:
                    return candidate
        return eligible[0]


def build_picker(session: Session, ctx: Context, routing: TeamRouting) -> Picker:
    """Members of the team who are active staff, online, with their load; their rows locked."""
    member_ids = workspaces_service.list_team_member_ids(session, ctx, routing.team_id)
    staff = active_staff(session, ctx, member_ids)
    statuses = list(
        session.scalars(
            scoped(ctx, AgentStatus)
            .where(AgentStatus.user_id.in_(sorted(staff)))
            .order_by(AgentStatus.user_id)
            .with_for_update()
        )
    )
    online = [s for s in statuses if s.availability == Availability.online.value]
    loads = open_loads(session, ctx, [s.user_id for s in online])
    candidates = [
        Candidate(
            user_id=s.user_id,
            capacity=s.capacity,
            skills=frozenset(skill.casefold() for skill in s.skills),
            load=loads[s.user_id],
        )
        for s in online
    ]
    return Picker(Strategy(routing.strategy), candidates, routing.last_assigned_user_id)


# --- assigning -----------------------------------------------------------------------------------


def _waiting_in_queue(ticket: Ticket, team_id: int) -> bool:
    return (
        ticket.team_id == team_id
        and ticket.assignee_id is None
        and ticket.merged_into_id is None
        and Status(ticket.status) in OPEN_STATUSES
    )


def _assign(session: Session, ctx: Context, ticket: Ticket, picker: Picker) -> int | None:
    user_id = picker.pick(ticket.category)
    if user_id is not None:
        tickets_service.update_ticket(session, ctx, ticket.id, TicketUpdate(assignee_id=user_id))
    return user_id


def auto_assign(session: Session, ctx: Context, ticket_id: int) -> int | None:
    """Give a ticket that just joined a team to one of its agents, if the team routes and someone
    qualifies. Returns the assignee, or None when the ticket stays in the team queue."""
    ticket = tickets_service.get_ticket(session, ctx, ticket_id)
    if ticket.team_id is None or not _waiting_in_queue(ticket, ticket.team_id):
        return None
    routings = lock_routings(session, ctx, [ticket.team_id])
    if not routings or routings[0].strategy == Strategy.manual.value:
        return None
    routing = routings[0]
    picker = build_picker(session, ctx, routing)
    # Re-read under the ticket lock: another transaction may have assigned it meanwhile.
    ticket = tickets_service.get_ticket(session, ctx, ticket_id, for_update=True)
    if not _waiting_in_queue(ticket, routing.team_id):
        return None
    user_id = _assign(session, ctx, ticket, picker)
    if user_id is not None:
        routing.last_assigned_user_id = user_id
        session.flush()
    return user_id


def drain_queue(
    session: Session, ctx: Context, routing: TeamRouting, *, limit: int = DRAIN_BATCH
) -> list[int]:
    """Hand out a routed team's queued tickets, oldest first, while someone has room.

    The caller holds the routing row's lock. Returns the ids of the tickets assigned.
    """
    if routing.strategy == Strategy.manual.value:
        return []
    picker = build_picker(session, ctx, routing)
    if not any(c.has_room for c in picker.candidates):
        return []
    queued, _ = list_tickets(
        session,
        ctx,
        TicketFilters(status=sorted(OPEN_STATUSES), team_id=routing.team_id, unassigned=True),
        sort="created_at",
        limit=limit,
    )
    assigned: list[int] = []
    for queued_ticket in queued:
        ticket = tickets_service.get_ticket(session, ctx, queued_ticket.id, for_update=True)
        if not _waiting_in_queue(ticket, routing.team_id):
            continue
        if _assign(session, ctx, ticket, picker) is None:
            break  # skills only rank agents: if nobody has room here, nobody has room at all
        assigned.append(ticket.id)
    if picker.last_assigned_user_id != routing.last_assigned_user_id:
        routing.last_assigned_user_id = picker.last_assigned_user_id
    session.flush()
    return assigned
