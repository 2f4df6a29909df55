"""Mail to agents: "an escalated ticket is now yours" (`escalation_assigned`).

Sent when a ticket with an open escalation gets an assignee, or when an assigned ticket is
escalated, to that assignee, unless they made the change themselves. It needs the workspace's
mail settings enabled and the `escalation_assigned` notification switched on (like every
notification kind); it goes out for tickets from every channel, since it is written to staff.
One mail per escalation and agent: a later hand-off of the same open escalation to the same
agent does not mail them again.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from deskpilot.auth import service as auth_service
from deskpilot.core.context import Context
from deskpilot.core.errors import NotFound
from deskpilot.email import notifications, outbound
from deskpilot.email.models import EmailMessage
from deskpilot.email.settings_service import get_mail_settings
from deskpilot.escalations import service as escalations_service
from deskpilot.tickets import hooks
from deskpilot.tickets.models import Ticket, TicketEvent

ORDER = 61
KIND = "escalation_assigned"


def _handed_to(event: TicketEvent, ticket: Ticket) -> int | None:
    if event.kind == "assigned" and isinstance(event.new_value, int):
        return event.new_value
    if event.kind == "escalated":
        return ticket.assignee_id
    return None


def notify_escalation_assignee(session: Session, events: Sequence[TicketEvent]) -> None:
    for event in events:
        if event.kind not in ("assigned", "escalated"):
            continue
        ticket = session.get(Ticket, event.ticket_id)
        if ticket is None or ticket.assignee_id is None:
            continue
        assignee_id = _handed_to(event, ticket)
        if assignee_id is None or assignee_id != ticket.assignee_id:
            continue
        if event.actor_user_id == assignee_id:
            continue  # they took it themselves
        mail = get_mail_settings(session, ticket.workspace_id)
        if mail is None or not mail.enabled or not notifications.is_on(mail, KIND):
            continue
        system = Context.system(ticket.workspace_id)
        escalation = escalations_service.get_open_escalation(session, system, ticket.id)
        if escalation is None:
            continue
        try:
            agent = auth_service.get_member(session, system, assignee_id)
        except NotFound:
            continue
        if not agent.is_active or not agent.email:
            continue
        if _already_told(session, ticket, agent.email, escalation.created_at):
            continue
        outbound.queue_email(
            session,
            mail,
            ticket,
            kind=KIND,
            subject=notifications.staff_subject(session, ticket, KIND),
            to_address=agent.email,
        )


def _already_told(session: Session, ticket: Ticket, address: str, since: object) -> bool:
    return address.lower() in _recipients(session, ticket, since)


def _recipients(session: Session, ticket: Ticket, since: object) -> set[str]:
    rows = session.scalars(
        select(EmailMessage.to_addresses).where(
            EmailMessage.workspace_id == ticket.workspace_id,
            EmailMessage.ticket_id == ticket.id,
            EmailMessage.kind == KIND,
            EmailMessage.created_at >= since,
        )
    ).all()
    return {address.lower() for to in rows for address in (to or [])}


hooks.register("email.staff", notify_escalation_assignee, order=ORDER)
