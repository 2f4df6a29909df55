"""Bounces (RFC 3464 reports) of mail we sent: the email is marked, agents are told, later mail
to the address is held back; temporary failures and unrelated reports change nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from deskpilot.email.bounces import read_report
from deskpilot.tickets.models import Message
from tests.email.conftest import make_email
from tests.email.test_outbound import outbound, reply
from tests.factories import Personas

FIXTURES = Path(__file__).parent / "fixtures"
CUSTOMER = "dave@customer.example.com"


def dsn(original_message_id: str | None, *, action: str = "failed", status: str = "5.1.1") -> bytes:
    quoted = f"Message-ID: {original_message_id}\n" if original_message_id else ""
    return (
        "Return-Path: <>\n"
        "From: Mail Delivery System <MAILER-DAEMON@mx.customer.example.com>\n"
        "To: support@acme.example\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        f"Message-ID: <dsn-{action}-{status}@mx.customer.example.com>\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="RPT"\n\n'
        "--RPT\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n"
        "--RPT\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.customer.example.com\n\n"
        f"Final-Recipient: rfc822; {CUSTOMER}\n"
        f"Action: {action}\nStatus: {status}\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <dave@customer.example.com>: User unknown\n\n"
        "--RPT\nContent-Type: text/rfc822-headers\n\n"
        f"From: support@acme.example\nTo: {CUSTOMER}\n{quoted}Subject: Re: Printer [#1]\n"
        "--RPT--\n"
    ).encode()


def _statuses(session: Session) -> list[str]:
    statuses = [r.status for r in outbound(session)]
    session.rollback()
    return statuses


def _sent_reply(deliver: Any, session: Session, personas: Personas) -> tuple[int, str]:
    """A reply emailed to the customer: its ticket and Message-ID (the session left idle)."""
    first = deliver(make_email(message_id="<b1@customer.example>", subject="Printer"))
    reply(session, personas, first.ticket_id, "We are on it.")
    [row] = outbound(session)
    status, message_id = row.status, row.message_id_header
    session.rollback()  # reading the expired row began a transaction: end it (SQLite lock)
    assert status == "sent"
    return first.ticket_id, message_id


def test_the_report_parser_reads_recipient_status_and_original_id() -> None:
    [bounce] = read_report(dsn("<ours@acme.example>"))
    assert (bounce.recipient, bounce.status, bounce.original_message_id) == (
        CUSTOMER,
        "5.1.1",
        "<ours@acme.example>",
    )
    assert bounce.permanent
    assert "User unknown" in bounce.diagnostic
    [fixture] = read_report((FIXTURES / "bounce.eml").read_bytes())
    assert fixture.recipient == "nobody@customer.example.com"
    assert read_report(make_email(message_id="<plain@x>")) == []


def test_a_hard_bounce_marks_the_email_notes_the_ticket_and_holds_later_mail(
    deliver: Any, session: Session, personas: Personas
) -> None:
    ticket_id, sent = _sent_reply(deliver, session, personas)
    result = deliver(dsn(sent))
    assert result.status == "ignored"
    assert result.reason is not None
    assert "bounce" in result.reason
    assert "5.1.1" in result.reason

    [row] = outbound(session)
    status, reason = row.status, row.reason
    session.rollback()
    assert status == "bounced"
    assert reason is not None
    assert "User unknown" in reason
    notes = session.scalars(
        select(Message.body)
        .where(Message.ticket_id == ticket_id, Message.visibility == "internal")
        .order_by(Message.id)
    ).all()
    session.rollback()
    assert len(notes) == 1
    assert "Email not delivered" in notes[0]
    assert CUSTOMER in notes[0]

    reply(session, personas, ticket_id, "Did you get this?")
    rows = outbound(session)
    statuses, held = [r.status for r in rows], rows[1].reason
    session.rollback()
    assert statuses == ["bounced", "suppressed"]
    assert held is not None
    assert "bounced" in held

    deliver(dsn(sent).replace(b"<dsn-", b"<dsn-again-"))  # a repeat
    assert _statuses(session) == ["bounced", "suppressed"]


def test_temporary_failures_and_unknown_reports_change_nothing(
    deliver: Any, session: Session, personas: Personas
) -> None:
    _, sent = _sent_reply(deliver, session, personas)
    deliver(dsn(sent, action="delayed", status="4.4.1"))
    deliver(dsn("<someone-elses@elsewhere.example>").replace(CUSTOMER.encode(), b"x@y.example"))
    assert _statuses(session) == ["sent"]


def test_a_report_without_the_original_id_matches_the_latest_mail_to_the_recipient(
    deliver: Any, session: Session, personas: Personas
) -> None:
    _, _sent = _sent_reply(deliver, session, personas)
    deliver(dsn(None))
    assert _statuses(session) == ["bounced"]
