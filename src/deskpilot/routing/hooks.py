"""Routing's reaction to ticket events: assign tickets that join a routed team, and hand out the
queues of an agent's teams when one of their tickets is resolved or closed (capacity frees up).

Runs after automation rules (order 10), so a rule that moves a new ticket to a team is routed in
the same transaction, and before SLA clocks (30), which then see the assignee.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from deskpilot.core.context import Context
from deskpilot.routing import assign
from deskpilot.tickets import hooks
from deskpilot.tickets.models import TicketEvent
from deskpilot.workspaces import service as workspaces_service

ORDER = 20
FREEING_KINDS = frozenset({"resolved", "closed", "merged"})


def on_ticket_events(session: Session, events: Sequence[TicketEvent]) -> None:
    joined: dict[tuple[int, int], None] = {}  # (workspace, ticket), in event order, once each
    freed: dict[int, set[int]] = {}  # workspace -> agents whose capacity may have freed up
    for event in events:
        ticket = event.ticket
        created_in_team = event.kind == "created" and ticket.team_id is not None
        moved_to_team = event.kind == "team_changed" and event.new_value is not None
        if created_in_team or moved_to_team:
            joined[(event.workspace_id, ticket.id)] = None
        elif event.kind in FREEING_KINDS and ticket.assignee_id is not None:
            freed.setdefault(event.workspace_id, set()).add(ticket.assignee_id)
    for workspace_id, ticket_id in joined:
        assign.auto_assign(session, Context.system(workspace_id), ticket_id)
    for workspace_id, user_ids in sorted(freed.items()):
        ctx = Context.system(workspace_id)
        teams = workspaces_service.team_ids_by_user(session, ctx, sorted(user_ids))
        team_ids = sorted({team_id for ids in teams.values() for team_id in ids})
        for routing in assign.lock_routings(session, ctx, team_ids):
            assign.drain_queue(session, ctx, routing)


hooks.register("routing.assign", on_ticket_events, order=ORDER)
