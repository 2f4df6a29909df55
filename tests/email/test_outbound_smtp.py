"""Replies leave over SMTP to a real aiosmtpd server on loopback, which records what arrived."""

from __future__ import annotations

import email
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message as MimeMessage
from email.policy import default as default_policy
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SmtpSession
from sqlalchemy import select
from sqlalchemy.orm import Session

from deskpilot.core.context import ActorType, Context
from deskpilot.db.engine import Database
from deskpilot.email.models import EmailMessage, MailSettings
from deskpilot.email.smtp_listener import InboundController
from deskpilot.email.tasks import MAX_ATTEMPTS
from deskpilot.jobs.models import Job
from deskpilot.tickets import service as tickets_service
from deskpilot.tickets.schemas import MessageCreate
from tests.email.conftest import make_email, set_policy
from tests.factories import Personas


@dataclass
class SinkHandler:
    """Accepts every message, or answers `reply` (e.g. a 451) to DATA."""

    received: list[tuple[Envelope, MimeMessage]] = field(default_factory=list)
    reply: str | None = None
    arrived: threading.Event = field(default_factory=threading.Event)

    async def handle_DATA(  # noqa: N802 -- aiosmtpd's hook name
        self, server: SMTP, session: SmtpSession, envelope: Envelope
    ) -> str:
        if self.reply is not None:
            return self.reply
        assert isinstance(envelope.content, bytes)
        parsed = email.message_from_bytes(envelope.content, policy=default_policy)
        self.received.append((envelope, parsed))
        self.arrived.set()
        return "250 2.0.0 OK"


@dataclass
class Sink:
    handler: SinkHandler
    port: int

    @property
    def messages(self) -> list[MimeMessage]:
        return [m for _, m in self.handler.received]


@contextmanager
def running_sink() -> Iterator[Sink]:
    """A recording SMTP server on a free loopback port."""
    handler = SinkHandler()
    controller = InboundController(handler, hostname="127.0.0.1", port=0, ready_timeout=5.0)
    controller.start()
    try:
        yield Sink(handler, controller.port)
    finally:
        controller.stop()


@pytest.fixture
def sink() -> Iterator[Sink]:
    with running_sink() as server:
        yield server


def use_smtp(session: Session, workspace_id: int, port: int, **extra: Any) -> None:
    set_policy(
        session,
        workspace_id,
        outbound_backend="smtp",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security="none",
        **extra,
    )


def agent_reply(session: Session, personas: Personas, ticket_id: int, body: str) -> int:
    message = tickets_service.add_message(
        session, personas.ann.ctx, ticket_id, MessageCreate(body=body)
    )
    session.commit()
    return message.id


def outbound(session: Session) -> list[EmailMessage]:
    rows = list(
        session.scalars(
            select(EmailMessage)
            .where(EmailMessage.direction == "outbound")
            .order_by(EmailMessage.id)
        ).all()
    )
    session.rollback()  # end the read: an open SQLite transaction would block the next writer
    return rows


def test_agent_reply_is_sent_with_threading_headers(
    deliver: Any, session: Session, personas: Personas, mail_settings: MailSettings, sink: Sink
) -> None:
    first = deliver(make_email(message_id="<first@customer.example>"))
    use_smtp(session, mail_settings.workspace_id, sink.port, from_name="Acme Support")
    agent_reply(session, personas, first.ticket_id, "Try **resetting** your password.")

    [sent] = sink.messages
    [envelope] = [e for e, _ in sink.handler.received]
    [row] = outbound(session)
    assert row.status == "sent"
    assert row.attempts == 1
    assert row.sent_at is not None
    assert sent["Message-ID"] == row.message_id_header
    assert row.message_id_header.endswith("@acme.example>")
    assert sent["In-Reply-To"] == "<first@customer.example>"
    assert sent["References"] == "<first@customer.example>"
    assert sent["Subject"] == "Re: Cannot log in [#1]"
    assert sent["Reply-To"] == "support@acme.example"
    assert sent["From"] == "Acme Support <support@acme.example>"
    assert sent["To"] == "dave@customer.example.com"
    assert envelope.mail_from == "support@acme.example"
    assert envelope.rcpt_tos == ["dave@customer.example.com"]
    assert sent.get_content_type() == "multipart/alternative"
    plain = sent.get_body(("plain",))
    html = sent.get_body(("html",))
    assert plain is not None
    assert html is not None
    assert "Try **resetting** your password." in plain.get_content()
    assert "<strong>resetting</strong>" in html.get_content()


def test_second_reply_references_the_whole_thread(
    deliver: Any, session: Session, personas: Personas, mail_settings: MailSettings, sink: Sink
) -> None:
    first = deliver(make_email(message_id="<t1@customer.example>"))
    use_smtp(session, mail_settings.workspace_id, sink.port)
    agent_reply(session, personas, first.ticket_id, "One")
    agent_reply(session, personas, first.ticket_id, "Two")
    one, two = sink.messages
    assert two["In-Reply-To"] == one["Message-ID"]
    assert two["References"].split() == ["<t1@customer.example>", one["Message-ID"]]


def test_the_ai_answer_goes_out_too(
    deliver: Any, session: Session, mail_settings: MailSettings, sink: Sink
) -> None:
    first = deliver(make_email(message_id="<ai@customer.example>"))
    use_smtp(session, mail_settings.workspace_id, sink.port)
    ai = Context.system(mail_settings.workspace_id, ActorType.ai)
    tickets_service.add_message(
        session, ai, first.ticket_id, MessageCreate(body="AI answer"), ai_meta={"confidence": 0.9}
    )
    session.commit()
    [sent] = sink.messages
    assert "AI answer" in sent.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_temporary_refusal_is_retried_later_then_fails_after_max_attempts(
    db: Database,
    deliver: Any,
    session: Session,
    personas: Personas,
    mail_settings: MailSettings,
    sink: Sink,
    clock: Any,
) -> None:
    from deskpilot.jobs import queue

    first = deliver(make_email(message_id="<busy@customer.example>"))
    use_smtp(session, mail_settings.workspace_id, sink.port)
    sink.handler.reply = "451 4.3.0 Try again later"
    agent_reply(session, personas, first.ticket_id, "Hello")
    [row] = outbound(session)
    assert (row.status, row.attempts) == ("queued", 1)
    assert row.reason is not None
    assert row.reason.startswith("SMTP 451")
    assert row.next_attempt_at is not None
    for attempt in range(2, MAX_ATTEMPTS + 1):
        clock.advance(minutes=2 ** (attempt - 1) + 1)
        pending = session.scalars(select(Job.id).where(Job.status == "pending")).all()
        session.rollback()
        assert len(pending) == 1, "exactly one next attempt is scheduled"
        queue.execute_job(pending[0])
        [row] = outbound(session)
        assert row.attempts == attempt
    assert row.status == "failed"
    assert row.next_attempt_at is None
    assert sink.messages == []


def test_permanent_refusal_fails_at_once(
    deliver: Any, session: Session, personas: Personas, mail_settings: MailSettings, sink: Sink
) -> None:
    first = deliver(make_email(message_id="<perm@customer.example>"))
    use_smtp(session, mail_settings.workspace_id, sink.port)
    sink.handler.reply = "550 5.1.1 No such user"
    agent_reply(session, personas, first.ticket_id, "Hello")
    [row] = outbound(session)
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.reason is not None
    assert row.reason.startswith("SMTP 550")
    assert session.scalars(select(Job).where(Job.status == "pending")).all() == []


def test_connection_refused_is_temporary(
    deliver: Any, session: Session, personas: Personas, mail_settings: MailSettings
) -> None:
    first = deliver(make_email(message_id="<down@customer.example>"))
    use_smtp(session, mail_settings.workspace_id, 1)  # nothing listens on port 1
    agent_reply(session, personas, first.ticket_id, "Hello")
    [row] = outbound(session)
    assert (row.status, row.attempts) == ("queued", 1)
    assert row.next_attempt_at is not None


def test_missing_password_variable_fails_without_retry(
    deliver: Any, session: Session, personas: Personas, mail_settings: MailSettings, sink: Sink
) -> None:
    first = deliver(make_email(message_id="<pw@customer.example>"))
    use_smtp(
        session,
        mail_settings.workspace_id,
        sink.port,
        smtp_username="u",
        smtp_password_ref="env:DESKPILOT_TEST_UNSET_SMTP_PASSWORD",
    )
    agent_reply(session, personas, first.ticket_id, "Hello")
    [row] = outbound(session)
    assert row.status == "failed"
    assert "DESKPILOT_TEST_UNSET_SMTP_PASSWORD" in (row.reason or "")


def test_a_long_reply_arrives_whole(
    deliver: Any, session: Session, personas: Personas, mail_settings: MailSettings, sink: Sink
) -> None:
    # Over SMTP a line may not exceed 1,000 bytes: the message must use CRLF line ends and
    # encode long lines, or the server refuses it.
    first = deliver(make_email(message_id="<long@customer.example>"))
    use_smtp(session, mail_settings.workspace_id, sink.port)
    body = "word " * 2000
    agent_reply(session, personas, first.ticket_id, body)
    [sent] = sink.messages
    assert sent.get_body(("plain",)).get_content().strip() == body.strip()  # type: ignore[union-attr]
