"""The SMTP listener over a real loopback socket, fed by the stdlib's smtplib."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from deskpilot.db.engine import Database
from deskpilot.email.models import EmailMessage, MailSettings
from deskpilot.email.smtp_listener import InboundController, make_controller
from deskpilot.settings import Settings
from deskpilot.tickets.models import Message, Ticket
from tests.email.conftest import SUPPORT, make_email

TIMEOUT = 5.0


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


def smtp(listener: InboundController) -> smtplib.SMTP:
    return smtplib.SMTP("127.0.0.1", listener.port, timeout=TIMEOUT)


def count(session: Session, model: Any = Ticket) -> int:
    """Count, then end the transaction: an open SQLite write session would block the listener."""
    found = session.scalar(select(func.count()).select_from(model)) or 0
    session.rollback()
    return found


def test_mail_sent_with_smtplib_becomes_a_ticket_and_a_reply(
    listener: InboundController, session: Session
) -> None:
    with smtp(listener) as client:
        refused = client.sendmail(
            "dave@customer.example.com", [SUPPORT], make_email(message_id="<s1@customer.example>")
        )
        assert refused == {}
        client.sendmail(
            "dave@customer.example.com",
            ["support+t1@acme.example"],
            make_email(subject="Re: more", body="More info", message_id="<s2@customer.example>"),
        )
    assert count(session) == 1
    ticket = session.scalars(select(Ticket)).one()
    assert ticket.channel == "email"
    [reply] = session.scalars(select(Message).where(Message.ticket_id == ticket.id)).all()
    assert (reply.body, reply.author_type) == ("More info", "customer")


def test_unknown_recipient_is_refused_with_550(
    listener: InboundController, session: Session
) -> None:
    with smtp(listener) as client, pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        client.sendmail("a@b.example", ["nobody@acme.example"], make_email(message_id="<u@b>"))
    assert refused.value.recipients["nobody@acme.example"][0] == 550
    assert count(session) == 0


def test_mixed_recipients_keep_the_known_one(listener: InboundController, session: Session) -> None:
    with smtp(listener) as client:
        refused = client.sendmail(
            "a@b.example", ["nobody@acme.example", SUPPORT], make_email(message_id="<mx@b>")
        )
    assert refused["nobody@acme.example"][0] == 550
    assert count(session) == 1


def test_oversize_message_is_refused_with_552(
    db: Database, settings: Settings, mail_settings: MailSettings, session: Session
) -> None:
    settings.max_attachment_bytes = 1000
    controller = make_controller(db, settings, port=0)
    controller.start()
    try:
        big = make_email(message_id="<big@b>", body=("y" * 70 + "\r\n") * 1000)
        # smtplib declares SIZE=..., so the listener refuses before any data is sent.
        with smtp(controller) as client, pytest.raises(smtplib.SMTPSenderRefused) as early:
            client.sendmail("a@b.example", [SUPPORT], big)
        assert early.value.smtp_code == 552
        # A client that does not declare the size is refused after DATA.
        with smtp(controller) as client:
            client.ehlo()
            assert client.mail("a@b.example")[0] == 250
            assert client.rcpt(SUPPORT)[0] == 250
            assert client.data(big)[0] == 552
    finally:
        controller.stop()
    assert count(session) == 0


def test_failure_answers_451_and_keeps_nothing_then_the_retry_works(
    listener: InboundController, session: Session, settings: Settings
) -> None:
    # The raw store cannot be written (a file where the directory should be).
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    blocker = settings.data_dir / "mail"
    blocker.write_text("not a directory")
    raw = make_email(message_id="<retry@b>")
    with smtp(listener) as client, pytest.raises(smtplib.SMTPDataError) as error:
        client.sendmail("dave@customer.example.com", [SUPPORT], raw)
    assert error.value.smtp_code == 451
    assert count(session) == 0
    assert count(session, EmailMessage) == 0
    blocker.unlink()
    with smtp(listener) as client:
        client.sendmail("dave@customer.example.com", [SUPPORT], raw)
        client.sendmail("dave@customer.example.com", [SUPPORT], raw)  # a duplicate resend
    assert count(session) == 1
    results: Any = listener.handler.results
    assert [r.status for r in results] == ["stored", "duplicate"]


def test_disabled_workspace_refuses_recipients(
    listener: InboundController, session: Session, mail_settings: MailSettings
) -> None:
    row = session.get(MailSettings, mail_settings.id)
    assert row is not None
    row.enabled = False
    session.commit()
    with smtp(listener) as client, pytest.raises(smtplib.SMTPRecipientsRefused):
        client.sendmail("a@b.example", [SUPPORT], make_email(message_id="<off@b>"))


def test_null_envelope_sender_is_a_bounce(listener: InboundController, session: Session) -> None:
    with smtp(listener) as client:
        client.sendmail("", [SUPPORT], make_email(message_id="<dsn@mx.example>"))
    assert count(session) == 0
    [row] = session.scalars(select(EmailMessage)).all()
    assert (row.status, row.reason) == ("ignored", "bounce (null envelope sender)")
