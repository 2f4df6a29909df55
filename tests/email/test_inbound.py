"""Receiving email end to end on the real database: tickets, replies, loops, duplicates."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from deskpilot.core.context import Context
from deskpilot.core.errors import Conflict
from deskpilot.email.inbound import receive
from deskpilot.email.models import EmailMessage, MailSettings
from deskpilot.settings import Settings
from deskpilot.tickets import service as tickets_service
from deskpilot.tickets.lifecycle import Status
from deskpilot.tickets.models import Attachment, Message, Ticket
from tests.email.conftest import make_email, set_policy
from tests.factories import Personas

FIXTURES = Path(__file__).parent / "fixtures"


def count(session: Session, model: Any) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_new_email_creates_an_email_ticket_and_keeps_the_original(
    deliver: Any, session: Session, settings: Settings
) -> None:
    raw = (FIXTURES / "new_request.eml").read_bytes()
    result = deliver(raw)
    assert (result.status, result.action) == ("stored", "created")
    ticket = session.get(Ticket, result.ticket_id)
    assert ticket is not None
    assert (ticket.channel, ticket.subject, ticket.status) == ("email", "Cannot log in", "new")
    assert ticket.description.startswith("Hi, I reset my password")
    assert "Dave" not in ticket.description.splitlines()[-1]
    assert ticket.requester.email == "dave@customer.example.com"
    assert ticket.requester.name == "Dave Miller"
    record = session.get(EmailMessage, result.email_id)
    assert record is not None
    assert (record.direction, record.status, record.kind) == ("inbound", "stored", "new")
    assert record.ticket_id == ticket.id
    assert record.raw_path is not None
    assert record.raw_path.startswith(f"mail/{ticket.workspace_id}/")
    assert (settings.data_dir / record.raw_path).read_bytes() == raw
    assert record.size_bytes == len(raw)


def test_reply_by_header_is_a_customer_message_on_the_ticket(
    deliver: Any, session: Session
) -> None:
    first = deliver(make_email(message_id="<m1@customer.example.com>"))
    reply = deliver(
        make_email(
            subject="Something else entirely",
            body="New detail.\n\nOn Mon, 3 Mar 2025, Acme <support@acme.example> wrote:\n> old",
            message_id="<m2@customer.example.com>",
            in_reply_to="<m1@customer.example.com>",
        )
    )
    assert (reply.action, reply.matched_by, reply.ticket_id) == (
        "replied",
        "header",
        first.ticket_id,
    )
    message = session.get(Message, reply.message_id)
    assert message is not None
    assert (message.author_type, message.visibility, message.body) == (
        "customer",
        "public",
        "New detail.",
    )
    ticket = session.get(Ticket, first.ticket_id)
    assert ticket is not None
    assert message.author_contact_id == ticket.requester_id


def test_reply_to_an_outbound_message_id_threads(
    deliver: Any, session: Session, personas: Personas
) -> None:
    ws = personas.acme_owner.workspace_id
    first = deliver(make_email(message_id="<m1@customer.example.com>"))
    session.add(
        EmailMessage(
            workspace_id=ws, direction="outbound", message_id_header="<out-1@acme.example>",
            ticket_id=first.ticket_id, from_address="support@acme.example", status="sent",
        )
    )  # fmt: skip
    session.commit()
    reply = deliver(
        make_email(
            subject="x", message_id="<m2@customer.example.com>",
            references="<unknown@elsewhere.example> <out-1@acme.example>",
        )
    )  # fmt: skip
    assert (reply.ticket_id, reply.matched_by) == (first.ticket_id, "header")


def test_tag_plus_address_and_fallback(deliver: Any, session: Session) -> None:
    first = deliver(make_email(subject="Export broken", message_id="<a1@customer.example.com>"))
    number = first.ticket_number
    by_tag = deliver(make_email(subject=f"Re: [#{number}] hm", message_id="<a2@c.example>"))
    by_plus = deliver(
        make_email(
            subject="other", to=f"support+t{number}@acme.example", message_id="<a3@c.example>"
        )
    )
    by_subject = deliver(make_email(subject="AW: Re: Export BROKEN", message_id="<a4@c.example>"))
    assert [r.matched_by for r in (by_tag, by_plus, by_subject)] == [
        "subject_tag", "plus_address", "fallback"
    ]  # fmt: skip
    assert {r.ticket_id for r in (by_tag, by_plus, by_subject)} == {first.ticket_id}


def test_ticket_tokens_from_someone_else_do_not_enter_the_ticket(deliver: Any) -> None:
    first = deliver(make_email(subject="Export broken", message_id="<b1@customer.example.com>"))
    stranger = deliver(
        make_email(
            sender="mallory@evil.example", subject=f"Re: [#{first.ticket_number}] Export broken",
            message_id="<b2@evil.example>",
        )
    )  # fmt: skip
    assert stranger.action == "created"
    assert stranger.ticket_id != first.ticket_id


def test_cc_reply_by_header_becomes_an_internal_note(deliver: Any, session: Session) -> None:
    first = deliver(make_email(message_id="<c1@customer.example.com>"))
    colleague = deliver(
        make_email(
            sender="Zoe <zoe@customer.example.com>", message_id="<c2@customer.example.com>",
            in_reply_to="<c1@customer.example.com>", body="Same here.",
        )
    )  # fmt: skip
    assert (colleague.action, colleague.ticket_id) == ("noted", first.ticket_id)
    message = session.get(Message, colleague.message_id)
    assert message is not None
    assert (message.author_type, message.visibility) == ("system", "internal")
    assert message.body.startswith("Email from Zoe <zoe@customer.example.com>:")


def _close(session: Session, ticket_id: int) -> None:
    ctx = Context.system(session.get(Ticket, ticket_id).workspace_id)  # type: ignore[union-attr]
    ticket = tickets_service.get_ticket(session, ctx, ticket_id, for_update=True)
    tickets_service.change_status(session, ctx, ticket, Status.resolved)
    tickets_service.change_status(session, ctx, ticket, Status.closed)
    session.commit()


def test_reply_to_closed_ticket_reopens_by_default(deliver: Any, session: Session) -> None:
    first = deliver(make_email(message_id="<d1@customer.example.com>"))
    _close(session, first.ticket_id)
    reply = deliver(
        make_email(message_id="<d2@c.example>", in_reply_to="<d1@customer.example.com>")
    )
    assert (reply.action, reply.ticket_id) == ("replied", first.ticket_id)
    session.expire_all()
    ticket = session.get(Ticket, first.ticket_id)
    assert ticket is not None
    assert (ticket.status, ticket.reopened_count) == ("in_progress", 1)


def test_reply_to_closed_ticket_follow_up_policy(
    deliver: Any, session: Session, mail_settings: MailSettings
) -> None:
    set_policy(session, mail_settings.workspace_id, closed_reply_policy="follow_up")
    first = deliver(make_email(message_id="<e1@customer.example.com>"))
    _close(session, first.ticket_id)
    reply = deliver(
        make_email(message_id="<e2@c.example>", in_reply_to="<e1@customer.example.com>")
    )
    assert reply.action == "follow_up"
    follow_up = session.get(Ticket, reply.ticket_id)
    assert follow_up is not None
    assert follow_up.parent_id == first.ticket_id
    assert follow_up.channel == "email"
    assert session.get(Ticket, first.ticket_id).status == "closed"  # type: ignore[union-attr]


def test_fallback_ignores_closed_and_stale_tickets(deliver: Any, session: Session) -> None:
    first = deliver(make_email(subject="Billing", message_id="<f1@customer.example.com>"))
    _close(session, first.ticket_id)
    again = deliver(make_email(subject="Re: Billing", message_id="<f2@customer.example.com>"))
    assert again.action == "created"
    assert again.ticket_id != first.ticket_id


def test_duplicate_delivery_is_ignored(deliver: Any, session: Session) -> None:
    raw = make_email(message_id="<g1@customer.example.com>")
    first = deliver(raw)
    second = deliver(raw)
    assert second.status == "duplicate"
    assert (second.email_id, second.ticket_id) == (first.email_id, first.ticket_id)
    assert count(session, Ticket) == 1
    assert count(session, EmailMessage) == 1


def test_loop_protection_stores_and_ignores(deliver: Any, session: Session) -> None:
    results = [deliver((FIXTURES / name).read_bytes()) for name in (
        "auto_reply.eml", "bounce.eml", "list_mail.eml",
    )]  # fmt: skip
    results.append(deliver(make_email(sender="support+t1@acme.example", message_id="<h1@a.x>")))
    results.append(deliver(make_email(sender="NoReply@acme.example", message_id="<h2@a.x>")))
    assert [(r.status, r.reason) for r in results] == [
        ("ignored", "auto-submitted: auto-replied"),
        ("ignored", "auto-submitted: auto-replied"),
        ("ignored", "precedence: bulk"),
        ("ignored", "sent from the workspace's own address"),
        ("ignored", "sent from the workspace's own address"),
    ]
    assert count(session, Ticket) == 0
    rows = session.scalars(select(EmailMessage)).all()
    assert [r.status for r in rows] == ["ignored"] * 5
    assert all(r.raw_path for r in rows)


def test_attachments_are_kept_on_the_ticket(deliver: Any, session: Session) -> None:
    result = deliver((FIXTURES / "big_attachment.eml").read_bytes())
    ticket = session.get(Ticket, result.ticket_id)
    assert ticket is not None
    assert "contract.pdf" not in ticket.description
    files = session.scalars(select(Attachment).order_by(Attachment.filename)).all()
    assert [(f.filename, f.size, f.message_id) for f in files] == [
        ("contract.pdf", 4105, result.message_id),
        ("orders.csv", 21, result.message_id),
    ]
    holder = session.get(Message, result.message_id)
    assert holder is not None
    assert holder.author_type == "system"


def test_oversize_attachment_note_reaches_the_ticket(
    deliver: Any, session: Session, settings: Settings
) -> None:
    settings.max_attachment_bytes = 1024
    result = deliver((FIXTURES / "big_attachment.eml").read_bytes())
    ticket = session.get(Ticket, result.ticket_id)
    assert ticket is not None
    assert "_Attachment contract.pdf (4105 bytes) was not kept" in ticket.description
    assert [a.filename for a in session.scalars(select(Attachment))] == ["orders.csv"]


def test_reply_with_inline_image(deliver: Any, session: Session) -> None:
    first = deliver(make_email(sender="kim@customer.example.com", subject="Error screenshot",
                               message_id="<k0@customer.example.com>"))  # fmt: skip
    reply = deliver((FIXTURES / "inline_image.eml").read_bytes())
    assert (reply.matched_by, reply.ticket_id) == ("fallback", first.ticket_id)
    [image] = session.scalars(select(Attachment)).all()
    assert (image.message_id, image.content_type) == (reply.message_id, "image/png")


def test_email_off_refuses(session: Session, settings: Settings, personas: Personas) -> None:
    with pytest.raises(Conflict):
        receive(session, personas.gina.workspace_id, make_email(message_id="<z@z.example>"),
                source="test", settings=settings)  # fmt: skip


@pytest.mark.concurrency
def test_concurrent_deliveries_of_one_email_create_one_ticket(
    db: Any, settings: Settings, mail_settings: MailSettings, session: Session
) -> None:
    """Copies racing each other (a retrying relay, two MX hosts): the unique key decides."""
    copies = 6
    raw = make_email(message_id="<race@customer.example.com>")
    barrier = threading.Barrier(copies)

    def worker(_: int) -> str:
        with db.session(write=True) as s:
            barrier.wait(timeout=30)
            result = receive(s, mail_settings.workspace_id, raw, source="test", settings=settings)
            s.commit()
            return result.status

    with ThreadPoolExecutor(max_workers=copies) as pool:
        statuses = sorted(pool.map(worker, range(copies)))
    assert statuses == ["duplicate"] * (copies - 1) + ["stored"]
    assert count(session, Ticket) == 1
    assert count(session, EmailMessage) == 1


def test_nul_bytes_and_raw_8bit_headers_are_stored_on_every_database(
    deliver: Any, session: Session
) -> None:
    raw = (
        b"From: Jos\xe9 <jose@customer.example.com>\r\nTo: support@acme.example\r\n"
        b"Subject: =?utf-8?q?Caf=00e?= \xe9t\xe9\r\nMessage-ID: <nul@customer.example.com>\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\nnul=00here\r\n"
    )
    result = deliver(raw)
    ticket = session.get(Ticket, result.ticket_id)
    assert ticket is not None
    assert (ticket.subject, ticket.description) == ("Cafe \ufffdt\ufffd", "nulhere")
