"""Routing test helpers: put agents on a team with a status, and choose the team's strategy."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from deskpilot.routing import service
from deskpilot.routing.schemas import AgentStatusUpdate, Availability, Strategy
from deskpilot.tickets.models import Ticket
from deskpilot.workspaces import service as workspaces_service
from tests.factories import Persona, Personas


def staff_team(
    session: Session,
    personas: Personas,
    strategy: Strategy,
    agents: dict[str, tuple[Availability, int] | tuple[Availability, int, list[str]]],
    *,
    team: str = "acme_support",
) -> int:
    """Members `agents` (persona key -> availability, capacity[, skills]) on a routed team."""
    admin = personas.acme_admin.ctx
    team_id = personas.teams[team]
    for key, spec in agents.items():
        user_id = personas.by_key[key].user_id
        workspaces_service.add_team_member(session, admin, team_id, user_id)
        availability, capacity, *rest = spec
        update = AgentStatusUpdate(availability=availability, capacity=capacity)
        if rest:
            update = AgentStatusUpdate(availability=availability, capacity=capacity, skills=rest[0])
        service.set_agent_status(session, admin, user_id, update)
    service.set_team_routing(session, admin, team_id, strategy)
    session.commit()
    return team_id


def assignees(session: Session, ticket_ids: Iterable[int]) -> list[int | None]:
    ids = list(ticket_ids)
    rows = dict(session.execute(select(Ticket.id, Ticket.assignee_id).where(Ticket.id.in_(ids))))
    return [rows[i] for i in ids]


def load_by_persona(session: Session, personas: Personas) -> Counter[str]:
    """Tickets assigned to each persona (unassigned under None)."""
    by_user = {p.user_id: p.key for p in personas.by_key.values()}
    rows = session.scalars(select(Ticket.assignee_id))
    return Counter(by_user.get(a, "?") if a is not None else "none" for a in rows)


def key_of(personas: Personas, user_id: int | None) -> str:
    for persona in personas.by_key.values():
        if persona.user_id == user_id:
            return persona.key
    return "none"


__all__ = ["Persona", "assignees", "key_of", "load_by_persona", "staff_team"]
