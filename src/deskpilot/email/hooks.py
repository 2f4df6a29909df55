"""Ticket events that send email: replies, and notifications to the requester.

Order 60: after automation, routing, SLA and webhooks (50) reacted, so emails are queued for
the ticket as it will be committed. Only tickets whose channel is `email`, in a workspace whose
mail settings are enabled, get mail (tickets from other channels are answered where they were
asked: portal, API). Per event:

- a public `message_added` by an agent -> the message as a reply (`email/outbound.py`);
- a public `message_added` by the AI -> the `ai_confirmation` notification (the answer with
  yes/no links), or a plain reply when that notification is off;
- `created` -> `ticket_received`; `resolved` -> `resolved_csat` (`email/notifications.py`).

Internal notes never leave.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from deskpilot.email import notifications, outbound
from deskpilot.tickets import hooks
from deskpilot.tickets.models import Message, Ticket, TicketEvent

ORDER = 60
NOTIFYING_EVENTS = {"created": "ticket_received", "resolved": "resolved_csat"}


def send_email(session: Session, events: Sequence[TicketEvent]) -> None:
    for event in events:
        meta = event.meta or {}
        replying = (
            event.kind == "message_added"
            and meta.get("visibility") == "public"
            and meta.get("author_type") in ("agent", "ai")
        )
        if not replying and event.kind not in NOTIFYING_EVENTS:
            continue
        ticket = session.get(Ticket, event.ticket_id)
        mail = outbound.wants_reply(session, ticket) if ticket is not None else None
        if ticket is None or mail is None:
            continue
        if not replying:
            notifications.queue_notification(session, mail, ticket, NOTIFYING_EVENTS[event.kind])
            continue
        message = session.get(Message, meta.get("message_id"))
        if message is None or message.ticket_id != ticket.id:
            continue
        if meta.get("author_type") == "ai" and notifications.is_on(mail, "ai_confirmation"):
            notifications.queue_notification(
                session, mail, ticket, "ai_confirmation", message=message
            )
        else:
            outbound.queue_reply(session, mail, ticket, message)


hooks.register("email.outbound", send_email, order=ORDER)
