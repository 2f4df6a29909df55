"""Which replies are queued as email, and the outbox backend that writes them to DATA_DIR."""

from __future__ import annotations

import email
import io
from email.policy import default as default_policy
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from deskpilot.email.models import EmailMessage, MailSettings
from deskpilot.settings import Settings
from deskpilot.tickets import service as tickets_service
from deskpilot.tickets.attachments import AttachmentStore
from deskpilot.tickets.lifecycle import Channel
from deskpilot.tickets.schemas import MessageCreate, RequesterIn, TicketCreate
from tests.email.conftest import make_email, set_policy
from tests.factories import Personas


def outbound(session: Session) -> list[EmailMessage]:
    rows = list(
        session.scalars(
            select(EmailMessage)
            .where(EmailMessage.direction == "outbound")
            .order_by(EmailMessage.id)
        ).all()
    )
    session.rollback()
    return rows


def reply(session: Session, personas: Personas, ticket_id: int, body: str, **kw: Any) -> None:
    tickets_service.add_message(
        session, personas.ann.ctx, ticket_id, MessageCreate(body=body, **kw)
    )
    session.commit()


def test_outbox_backend_writes_the_eml_file_and_marks_it_sent(
    deliver: Any, session: Session, personas: Personas, settings: Settings
) -> None:
    first = deliver(make_email(message_id="<o1@customer.example>", subject="Re: Printer [#9]"))
    reply(session, personas, first.ticket_id, "We are on it.")
    [row] = outbound(session)
    assert row.status == "sent"
    assert row.kind == "reply"
    assert row.subject == "Re: Printer [#1]", "earlier prefixes and tags are replaced"
    written = (settings.data_dir / "outbox" / f"{row.id}.eml").read_bytes()
    assert row.raw_path is not None
    assert (settings.data_dir / row.raw_path).read_bytes() == written
    parsed = email.message_from_bytes(written, policy=default_policy)
    assert parsed["Message-ID"] == row.message_id_header
    assert parsed["In-Reply-To"] == "<o1@customer.example>"
    assert parsed["Auto-Submitted"] == "no"


def test_attachments_of_the_message_are_attached(
    deliver: Any, session: Session, personas: Personas, settings: Settings
) -> None:
    first = deliver(make_email(message_id="<att@customer.example>"))
    store = AttachmentStore(settings.attachments_dir, settings.max_attachment_bytes)
    saved = store.save(
        session,
        personas.ann.ctx,
        filename="steps.txt",
        declared_type="text/plain",
        stream=io.BytesIO(b"1. reset\n2. log in\n"),
    )
    session.commit()
    reply(session, personas, first.ticket_id, "See the steps.", attachment_ids=[saved.id])
    [row] = outbound(session)
    parsed = email.message_from_bytes(
        (settings.data_dir / "outbox" / f"{row.id}.eml").read_bytes(), policy=default_policy
    )
    [attached] = list(parsed.iter_attachments())
    assert attached.get_filename() == "steps.txt"
    assert attached.get_content() == "1. reset\n2. log in\n"


def test_internal_notes_customer_messages_and_other_channels_send_nothing(
    deliver: Any, session: Session, personas: Personas
) -> None:
    first = deliver(make_email(message_id="<n1@customer.example>"))
    reply(session, personas, first.ticket_id, "note", visibility="internal")
    deliver(make_email(message_id="<n2@customer.example>", in_reply_to="<n1@customer.example>"))
    portal, _ = tickets_service.create_ticket(
        session,
        personas.ann.ctx,
        TicketCreate(
            subject="Portal", channel=Channel.portal, requester=RequesterIn(email="p@x.example")
        ),
    )
    session.commit()
    reply(session, personas, portal.id, "answered in the portal")
    assert outbound(session) == []


def test_cc_of_the_last_inbound_mail_is_kept_but_not_our_own_addresses(
    deliver: Any, session: Session, personas: Personas
) -> None:
    first = deliver(
        make_email(
            message_id="<cc@customer.example>",
            extra="Cc: Erin <erin@customer.example.com>, noreply@acme.example",
        )
    )
    reply(session, personas, first.ticket_id, "Hi both")
    [row] = outbound(session)
    assert row.cc_addresses == ["erin@customer.example.com"]


def test_reply_to_our_own_address_is_suppressed(
    session: Session, personas: Personas, mail_settings: MailSettings
) -> None:
    ticket, _ = tickets_service.create_ticket(
        session,
        personas.ann.ctx,
        TicketCreate(
            subject="Loop",
            channel=Channel.email,
            requester=RequesterIn(email="noreply@acme.example"),
        ),
    )
    session.commit()
    reply(session, personas, ticket.id, "hello")
    [row] = outbound(session)
    assert row.status == "suppressed"
    assert row.reason == "recipient is one of the workspace's own addresses"


def test_replies_over_the_hourly_limit_are_suppressed(
    deliver: Any, session: Session, personas: Personas, mail_settings: MailSettings, clock: Any
) -> None:
    set_policy(session, mail_settings.workspace_id, max_replies_per_sender_per_hour=2)
    first = deliver(make_email(message_id="<rl@customer.example>"))
    for n in range(3):
        reply(session, personas, first.ticket_id, f"reply {n}")
    assert [r.status for r in outbound(session)] == ["sent", "sent", "suppressed"]
    assert outbound(session)[2].reason == "rate limit: 2 emails per hour to this recipient"
    clock.advance(minutes=61)
    reply(session, personas, first.ticket_id, "an hour later")
    assert outbound(session)[3].status == "sent"


def test_disabled_mail_settings_send_nothing(
    deliver: Any, session: Session, personas: Personas, mail_settings: MailSettings
) -> None:
    first = deliver(make_email(message_id="<off@customer.example>"))
    set_policy(session, mail_settings.workspace_id, enabled=False)
    reply(session, personas, first.ticket_id, "hello")
    assert outbound(session) == []
