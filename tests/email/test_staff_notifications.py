"""The `escalation_assigned` mail: an escalated ticket handed to an agent tells that agent."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from deskpilot.db.engine import Database
from deskpilot.email.models import EmailMessage, MailSettings
from deskpilot.email.notifications import KINDS
from deskpilot.escalations import service as escalations_service
from deskpilot.settings import Settings
from deskpilot.tickets import service as tickets_service
from deskpilot.tickets.schemas import TicketUpdate
from tests.email.conftest import make_email, set_policy
from tests.email.test_notifications import html_of, sent, text_of
from tests.factories import Personas, make_ticket

KIND = "escalation_assigned"


@pytest.fixture(autouse=True)
def _notifications_on(session: Session, mail_settings: MailSettings) -> None:
    set_policy(session, mail_settings.workspace_id, notifications=dict.fromkeys(KINDS, True))


def _escalate(session: Session, personas: Personas, ticket_id: int) -> None:
    escalations_service.escalate_ticket(
        session, personas.acme_admin.ctx, ticket_id, reason="user_requested"
    )
    session.commit()


def _assign(session: Session, personas: Personas, ticket_id: int, user_id: int | None) -> None:
    tickets_service.update_ticket(
        session, personas.acme_admin.ctx, ticket_id, TicketUpdate(assignee_id=user_id)
    )
    session.commit()


def _to(session: Session) -> list[list[str]]:
    rows = session.scalars(
        select(EmailMessage.to_addresses).where(EmailMessage.kind == KIND).order_by(EmailMessage.id)
    ).all()
    session.rollback()
    return [list(r) for r in rows]


def test_assigning_an_escalated_ticket_mails_the_agent_once(
    session: Session, settings: Settings, personas: Personas
) -> None:
    ticket = make_ticket(session, personas.ann.ctx, channel="portal")
    session.commit()
    _escalate(session, personas, ticket.id)
    assert _to(session) == []  # nobody to tell yet

    _assign(session, personas, ticket.id, personas.bob.user_id)
    assert _to(session) == [[personas.bob.email]]
    (mail,) = sent(session, settings, KIND)
    assert mail["Subject"] == f"Escalated to you: #{ticket.number} {ticket.subject}"
    assert "[#" not in mail["Subject"]  # a reply must not thread into the customer's ticket
    assert mail["In-Reply-To"] is None
    body = text_of(mail)
    assert "Hello Bob" in body
    assert "user requested" in body
    assert f"/app/tickets/{ticket.number}" in body
    assert "/app/tickets/" in html_of(mail)

    # Handing the same open escalation back and forth does not mail bob twice.
    _assign(session, personas, ticket.id, None)
    _assign(session, personas, ticket.id, personas.bob.user_id)
    assert _to(session) == [[personas.bob.email]]


def test_escalating_an_assigned_ticket_mails_the_assignee(
    session: Session, personas: Personas
) -> None:
    ticket = make_ticket(session, personas.ann.ctx, assignee_id=personas.bob.user_id)
    session.commit()
    _escalate(session, personas, ticket.id)
    assert _to(session) == [[personas.bob.email]]


def test_no_mail_when_the_agent_takes_it_or_it_is_not_escalated(
    session: Session, personas: Personas
) -> None:
    quiet = make_ticket(session, personas.ann.ctx)
    session.commit()
    _assign(session, personas, quiet.id, personas.bob.user_id)  # not escalated
    escalated = make_ticket(session, personas.ann.ctx)
    session.commit()
    _escalate(session, personas, escalated.id)
    tickets_service.update_ticket(
        session, personas.ann.ctx, escalated.id, TicketUpdate(assignee_id=personas.ann.user_id)
    )
    session.commit()
    assert _to(session) == []


def test_switched_off_kind_sends_nothing(
    session: Session, personas: Personas, mail_settings: MailSettings
) -> None:
    set_policy(session, mail_settings.workspace_id, notifications={KIND: False})
    ticket = make_ticket(session, personas.ann.ctx, assignee_id=personas.bob.user_id)
    session.commit()
    _escalate(session, personas, ticket.id)
    assert _to(session) == []


def test_a_reply_to_the_agent_mail_does_not_join_the_ticket(
    session: Session, personas: Personas, deliver: Any, db: Database
) -> None:
    ticket = make_ticket(session, personas.ann.ctx, assignee_id=personas.bob.user_id)
    session.commit()
    _escalate(session, personas, ticket.id)
    session.close()
    with db.session(write=False) as reader:
        message_id = reader.scalars(
            select(EmailMessage.message_id_header).where(EmailMessage.kind == KIND)
        ).one()
    raw = make_email(
        sender=personas.bob.email,
        subject=f"Re: Escalated to you: #{ticket.number} {ticket.subject}",
        body="On it.",
        message_id="<reply-from-bob@acme.example.com>",
        in_reply_to=message_id,
        references=message_id,
    )
    result = deliver(raw)
    assert result.ticket_id != ticket.id
