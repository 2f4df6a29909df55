"""The agent console's queues: named views with counts, page rows, and bulk changes (staff only).

A view is a fixed set of `TicketFilters` (my open tickets, unassigned, one per team, escalated,
waiting on customer, all); the user's own filters narrow it further. Everything a page shows is
loaded in a fixed number of queries, whatever the page size: counts are indexed COUNTs, and the
requesters, tags, SLA states and escalations of the page's rows are loaded in batches.
Bulk changes go through `tickets.service.update_ticket` one ticket at a time, each in its own
savepoint, so a ticket that refuses a change (an illegal transition) does not undo the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from deskpilot.auth import service as auth_service
from deskpilot.core.clock import utcnow
from deskpilot.core.context import Context, Role
from deskpilot.core.errors import DomainError, IllegalTransition, NotFound, ValidationFailed
from deskpilot.core.ids import parse_id
from deskpilot.core.pagination import MAX_PAGE_SIZE
from deskpilot.escalations.models import Escalation
from deskpilot.sla.models import TicketSla
from deskpilot.tickets import service as tickets_service
from deskpilot.tickets.lifecycle import OPEN_STATUSES, Priority, Status
from deskpilot.tickets.listing import TicketFilters, normalize_tag
from deskpilot.tickets.models import Ticket
from deskpilot.tickets.schemas import TicketUpdate
from deskpilot.workspaces import service as workspaces_service
from deskpilot.workspaces.models import Team

MINE = "mine"
UNASSIGNED = "unassigned"
ESCALATED = "escalated"
WAITING = "waiting"
ALL = "all"
TEAM_PREFIX = "team-"
DEFAULT_VIEW = MINE
VIEW_LABELS = {
    MINE: "My open tickets",
    UNASSIGNED: "Unassigned",
    ESCALATED: "Escalated by the AI",
    WAITING: "Waiting on customer",
    ALL: "All tickets",
}
MAX_BULK = MAX_PAGE_SIZE
_OPEN = sorted(s.value for s in OPEN_STATUSES)


@dataclass(frozen=True)
class QueueView:
    key: str
    label: str
    count: int
    team_id: int | None = None


@dataclass(frozen=True)
class StaffMember:
    user_id: int
    name: str
    email: str

    @property
    def display(self) -> str:
        return self.name or self.email


@dataclass(frozen=True)
class QueueRow:
    """One ticket as a queue row shows it (plain values: templates never load anything)."""

    id: int
    number: int
    subject: str
    status: str
    priority: str
    type: str | None
    category: str | None
    channel: str
    requester: str
    requester_email: str
    assignee: str
    team: str
    tags: list[str]
    created_at: datetime
    updated_at: datetime
    sla_state: str | None
    escalated: bool


# --- directory: who and which teams a queue can name ---------------------------------------------


def staff_members(session: Session, ctx: Context) -> list[StaffMember]:
    """Active owners, admins and agents, by name: the people a ticket can be assigned to."""
    ctx.require_staff()
    people: list[StaffMember] = []
    for role in (Role.owner, Role.admin, Role.agent):
        cursor: str | None = None
        while True:
            members, cursor = auth_service.list_members(
                session, ctx, role=role, limit=MAX_PAGE_SIZE, cursor=cursor
            )
            people += [StaffMember(m.user_id, m.name, m.email) for m in members if m.is_active]
            if cursor is None:
                break
    return sorted(people, key=lambda p: (p.display.lower(), p.user_id))


def all_teams(session: Session, ctx: Context) -> list[Team]:
    ctx.require_staff()
    teams: list[Team] = []
    cursor: str | None = None
    while True:
        page, cursor = workspaces_service.list_teams(
            session, ctx, limit=MAX_PAGE_SIZE, cursor=cursor
        )
        teams += page
        if cursor is None:
            return sorted(teams, key=lambda t: (t.name.lower(), t.id))


# --- views ---------------------------------------------------------------------------------------


def view_filters(ctx: Context, view: str, teams: Sequence[Team]) -> TicketFilters:
    """The filters that define a view; an unknown view or another workspace's team is a 404."""
    ctx.require_staff()
    if view == MINE:
        return TicketFilters(open_only=True, assignee_id=ctx.user_id or -1)
    if view == UNASSIGNED:
        return TicketFilters(open_only=True, unassigned=True)
    if view == ESCALATED:
        return TicketFilters(escalated=True)
    if view == WAITING:
        return TicketFilters(status=[Status.waiting_customer])
    if view == ALL:
        return TicketFilters()
    if view.startswith(TEAM_PREFIX) and parse_id(view[len(TEAM_PREFIX) :]) is not None:
        team_id = int(view[len(TEAM_PREFIX) :])
        if any(team.id == team_id for team in teams):
            return TicketFilters(open_only=True, team_id=team_id)
    raise NotFound(f"Queue view {view!r} not found")


def view_label(view: str, teams: Sequence[Team]) -> str:
    if view in VIEW_LABELS:
        return VIEW_LABELS[view]
    return next((t.name for t in teams if f"{TEAM_PREFIX}{t.id}" == view), view)


def queue_views(session: Session, ctx: Context, teams: Sequence[Team]) -> list[QueueView]:
    """Every view with its ticket count, in three indexed queries whatever the team count."""
    ctx.require_staff()
    ws = Ticket.workspace_id == ctx.workspace_id
    # One pass over the open tickets, grouped small enough to add up here; the covering index
    # ix_tickets_ws_status_assignee_team answers it without reading the table.
    me = Ticket.assignee_id == (ctx.user_id or -1)
    unassigned_flag = Ticket.assignee_id.is_(None)
    groups = session.execute(
        select(Ticket.status, Ticket.team_id, me, unassigned_flag, func.count())
        .where(ws, Ticket.status.in_(_OPEN))
        .group_by(Ticket.status, Ticket.team_id, me, unassigned_flag)
    ).all()
    mine = unassigned = waiting = 0
    by_team: dict[int, int] = {}
    for status, team_id, is_mine, is_unassigned, n in groups:
        mine += n if is_mine else 0
        unassigned += n if is_unassigned else 0
        waiting += n if status == Status.waiting_customer.value else 0
        if team_id is not None:
            by_team[team_id] = by_team.get(team_id, 0) + n
    escalated = session.scalar(
        select(func.count(func.distinct(Escalation.ticket_id))).where(
            Escalation.workspace_id == ctx.workspace_id, Escalation.status == "open"
        )
    )
    everything = session.scalar(select(func.count()).select_from(Ticket).where(ws))
    views = [
        QueueView(MINE, VIEW_LABELS[MINE], int(mine or 0)),
        QueueView(UNASSIGNED, VIEW_LABELS[UNASSIGNED], int(unassigned or 0)),
    ]
    views += [
        QueueView(f"{TEAM_PREFIX}{t.id}", t.name, int(by_team.get(t.id, 0)), team_id=t.id)
        for t in teams
    ]
    views += [
        QueueView(ESCALATED, VIEW_LABELS[ESCALATED], int(escalated or 0)),
        QueueView(WAITING, VIEW_LABELS[WAITING], int(waiting or 0)),
        QueueView(ALL, VIEW_LABELS[ALL], int(everything or 0)),
    ]
    return views


# --- rows ----------------------------------------------------------------------------------------


def queue_rows(
    session: Session,
    ctx: Context,
    tickets: Sequence[Ticket],
    staff: Sequence[StaffMember],
    teams: Sequence[Team],
) -> list[QueueRow]:
    """Page rows: requesters and tags come with the tickets (selectin), SLA states and open
    escalations in one query each."""
    ctx.require_staff()
    ids = [t.id for t in tickets]
    sla = _sla_states(session, ctx, ids)
    escalated = _escalated(session, ctx, ids)
    names = {p.user_id: p.display for p in staff}
    team_names = {t.id: t.name for t in teams}
    rows = []
    for t in tickets:
        requester = t.requester
        rows.append(
            QueueRow(
                id=t.id,
                number=t.number,
                subject=t.subject,
                status=t.status,
                priority=t.priority,
                type=t.type,
                category=t.category,
                channel=t.channel,
                requester=(requester.name or requester.email) if requester else "",
                requester_email=requester.email if requester else "",
                assignee=names.get(t.assignee_id, "Former member") if t.assignee_id else "",
                team=team_names.get(t.team_id, "") if t.team_id else "",
                tags=list(t.tags),
                created_at=t.created_at,
                updated_at=t.updated_at,
                sla_state=sla.get(t.id),
                escalated=t.id in escalated,
            )
        )
    return rows


def _sla_states(session: Session, ctx: Context, ticket_ids: list[int]) -> dict[int, str]:
    """breached > at_risk > ok, over each ticket's clocks that still count."""
    if not ticket_ids:
        return {}
    now = utcnow()
    found: dict[int, str] = {}
    rank = {"ok": 0, "at_risk": 1, "breached": 2}
    clocks = session.execute(
        select(TicketSla.ticket_id, TicketSla.state, TicketSla.at_risk_at).where(
            TicketSla.workspace_id == ctx.workspace_id,
            TicketSla.ticket_id.in_(ticket_ids),
            TicketSla.state.in_(("running", "paused", "breached")),
        )
    ).all()
    for ticket_id, state, at_risk_at in clocks:
        if state == "breached":
            seen = "breached"
        elif state == "running" and at_risk_at is not None and at_risk_at <= now:
            seen = "at_risk"
        else:
            seen = "ok"
        if rank[seen] >= rank.get(found.get(ticket_id, "ok"), 0):
            found[ticket_id] = seen
    return found


def _escalated(session: Session, ctx: Context, ticket_ids: list[int]) -> set[int]:
    if not ticket_ids:
        return set()
    return set(
        session.scalars(
            select(Escalation.ticket_id).where(
                Escalation.workspace_id == ctx.workspace_id,
                Escalation.ticket_id.in_(ticket_ids),
                Escalation.status == "open",
            )
        )
    )


# --- bulk changes --------------------------------------------------------------------------------


class BulkAction(StrEnum):
    assign = "assign"
    status = "status"
    priority = "priority"
    tag = "tag"


@dataclass
class BulkOutcome:
    updated: int = 0
    skipped: list[str] = field(default_factory=list)

    def summary(self, limit: int = 5) -> str:
        """ "3 updated, 1 skipped: #12 cannot go from new to closed"."""
        text = f"{self.updated} updated"
        if self.skipped:
            reasons = "; ".join(self.skipped[:limit])
            more = f"; and {len(self.skipped) - limit} more" if len(self.skipped) > limit else ""
            text += f", {len(self.skipped)} skipped: {reasons}{more}"
        return text


def bulk_update(
    session: Session, ctx: Context, ticket_ids: Sequence[int], action: BulkAction, value: str
) -> BulkOutcome:
    """Apply one change to many tickets; each refusal is reported, not raised."""
    ctx.require_staff()
    ids = list(dict.fromkeys(ticket_ids))
    if not ids:
        raise ValidationFailed(
            "Select at least one ticket",
            details=[{"field": "ticket_ids", "message": "no tickets selected"}],
        )
    if len(ids) > MAX_BULK:
        raise ValidationFailed(
            f"Select at most {MAX_BULK} tickets",
            details=[{"field": "ticket_ids", "message": f"at most {MAX_BULK}"}],
        )
    change = _bulk_change(action, value)
    outcome = BulkOutcome()
    for ticket_id in ids:
        label = f"ticket {ticket_id}"
        try:
            with session.begin_nested():
                ticket = tickets_service.get_ticket(session, ctx, ticket_id)
                label = f"#{ticket.number}"
                data = change
                if action == BulkAction.tag:
                    data = TicketUpdate(tags=[*ticket.tags, value])
                tickets_service.update_ticket(session, ctx, ticket_id, data)
            outcome.updated += 1
        except IllegalTransition as exc:
            details = exc.details if isinstance(exc.details, dict) else {}
            outcome.skipped.append(
                f"{label} cannot go from {details.get('from', '?')} to {details.get('to', '?')}"
            )
        except NotFound:
            outcome.skipped.append(f"{label} not found")
        except PydanticValidationError:
            outcome.skipped.append(f"{label} already has the most tags a ticket can have")
        except DomainError as exc:
            outcome.skipped.append(f"{label}: {exc}")
    return outcome


def _bulk_change(action: BulkAction, value: str) -> TicketUpdate:
    def invalid(message: str) -> ValidationFailed:
        return ValidationFailed(message, details=[{"field": "value", "message": message}])

    value = value.strip()
    if action == BulkAction.assign:
        if not value:
            return TicketUpdate(assignee_id=None)
        agent_id = parse_id(value)
        if agent_id is None:
            raise invalid("Choose an agent")
        try:
            return TicketUpdate(assignee_id=agent_id)
        except PydanticValidationError as exc:
            raise invalid("Choose an agent") from exc
    if action == BulkAction.status:
        if value not in Status.__members__:
            raise invalid("Choose a status")
        return TicketUpdate(status=Status(value))
    if action == BulkAction.priority:
        if value not in Priority.__members__:
            raise invalid("Choose a priority")
        return TicketUpdate(priority=Priority(value))
    try:
        TicketUpdate(tags=[value])
    except PydanticValidationError as exc:
        raise invalid("Enter a tag of at most 64 characters") from exc
    if not normalize_tag(value):
        raise invalid("Enter a tag")
    return TicketUpdate()  # the tag list is built per ticket
