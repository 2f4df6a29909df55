"""End to end over real sockets: a customer mails in, an agent answers by email, the customer
answers that email, and everything stays on one ticket."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from deskpilot.db.engine import Database
from deskpilot.email.models import MailSettings
from deskpilot.email.smtp_listener import InboundController, make_controller
from deskpilot.settings import Settings
from deskpilot.tickets.models import Message, Ticket
from tests.email.conftest import SUPPORT, make_email
from tests.email.test_outbound_smtp import Sink, agent_reply, running_sink, use_smtp
from tests.factories import Personas

CUSTOMER = "dave@customer.example.com"


@pytest.fixture
def listener(
    db: Database, settings: Settings, mail_settings: MailSettings
) -> Iterator[InboundController]:
    controller = make_controller(db, settings, host="127.0.0.1", port=0)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


@pytest.fixture
def outgoing() -> Iterator[Sink]:
    with running_sink() as server:
        yield server


def send_in(listener: InboundController, raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", listener.port, timeout=5.0) as client:
        assert client.sendmail(CUSTOMER, [SUPPORT], raw) == {}


def test_customer_reply_to_our_email_threads_into_the_same_ticket(
    listener: InboundController,
    outgoing: Sink,
    session: Session,
    personas: Personas,
    mail_settings: MailSettings,
) -> None:
    send_in(listener, make_email(message_id="<start@customer.example>", subject="VPN down"))
    ticket = session.scalars(select(Ticket)).one()
    session.rollback()
    use_smtp(session, mail_settings.workspace_id, outgoing.port)

    agent_reply(session, personas, ticket.id, "Please restart the client.")
    [ours] = outgoing.messages
    assert ours["Subject"] == "Re: VPN down [#1]"

    # The customer's client answers our mail: a new subject and no tag, only the headers.
    send_in(
        listener,
        make_email(
            message_id="<answer@customer.example>",
            subject="thanks",
            body="Restarted, works now.",
            in_reply_to=ours["Message-ID"],
            references=f"<start@customer.example> {ours['Message-ID']}",
        ),
    )
    assert session.scalars(select(Ticket.id)).all() == [ticket.id]
    bodies: list[Any] = session.scalars(
        select(Message.body).where(Message.ticket_id == ticket.id).order_by(Message.id)
    ).all()
    assert bodies[-2:] == ["Please restart the client.", "Restarted, works now."]
