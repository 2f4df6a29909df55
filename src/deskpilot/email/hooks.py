"""Ticket events that send email: replies, and notifications to the requester.

Order 60: after automation, routing, SLA and webhooks (50) reacted, so emails are queued for
the ticket as it will be committed. Only tickets whose channel is `email`, in a workspace whose
mail settings are enabled, get mail (tickets from other channels are answered where they were
asked: portal, API). Per event:

- a public `message_added` by an agent -> the message as a reply (`email/outbound.py`);
- a public `message_added` by the AI -> the `ai_confirmation` notification (the answer with
  yes/no links), or a plain reply when that notification is off;
- `created` -> `ticket_received`; `resolved` -> `resolved_csat` (`email/notifications.py`).

When the AI will look at a new ticket, its `ticket_received` waits `RECEIPT_HOLD_SECONDS`: an
answer (or clarifying question) from the AI within that time already tells the customer their
request arrived, so the receipt is then dropped (`email/tasks.py`) instead of arriving as a second
email seconds before the answer. An escalated ticket gets its receipt when the hold ends.

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
# Long enough for the AI pipeline to answer a new ticket (p95 under 0.3 s, bench/ai_pipeline.py)
# even with a queue behind it; short enough that an escalated customer still hears back at once.
RECEIPT_HOLD_SECONDS = 60.0


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
            kind = NOTIFYING_EVENTS[event.kind]
            hold = (
                RECEIPT_HOLD_SECONDS
                if kind == "ticket_received" and _ai_will_look(session, ticket)
                else 0.0
            )
            notifications.queue_notification(session, mail, ticket, kind, hold_seconds=hold)
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


def _ai_will_look(session: Session, ticket: Ticket) -> bool:
    # Imported here: the AI pipeline builds on tickets and email, not the other way round.
    from deskpilot.triage.pipeline import policy_allows

    return policy_allows(session, ticket.workspace_id)


hooks.register("email.outbound", send_email, order=ORDER)
