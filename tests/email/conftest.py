"""Shared pieces for the email tests: mail settings for acme and a builder for raw messages."""

from __future__ import annotations

from email.utils import format_datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session

from deskpilot.core.clock import utcnow
from deskpilot.db.engine import Database
from deskpilot.email.inbound import receive
from deskpilot.email.models import MailSettings
from deskpilot.email.schemas import InboundResult
from deskpilot.settings import Settings
from tests.factories import Personas

SUPPORT = "support@acme.example"


def make_email(
    *,
    sender: str = "Dave Miller <dave@customer.example.com>",
    subject: str = "Cannot log in",
    body: str = "I still cannot log in.",
    message_id: str,
    in_reply_to: str | None = None,
    references: str | None = None,
    to: str = SUPPORT,
    extra: str = "",
) -> bytes:
    headers = [
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {subject}",
        f"Date: {format_datetime(utcnow().replace(microsecond=0))}",
        f"Message-ID: {message_id}",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
    ]
    if in_reply_to:
        headers.append(f"In-Reply-To: {in_reply_to}")
    if references:
        headers.append(f"References: {references}")
    if extra:
        headers.append(extra)
    return ("\r\n".join(headers) + "\r\n\r\n" + body + "\r\n").encode()


@pytest.fixture
def mail_settings(db: Database, personas: Personas) -> MailSettings:
    with db.session(write=True) as s:
        row = MailSettings(
            workspace_id=personas.acme_owner.workspace_id,
            support_address=SUPPORT,
            own_addresses=["noreply@acme.example"],
        )
        s.add(row)
        s.commit()
        s.refresh(row)
        s.expunge(row)
    return row


@pytest.fixture
def deliver(db: Database, settings: Settings, mail_settings: MailSettings) -> Any:
    """Receive one raw email for acme in its own committed transaction."""

    def run(raw: bytes, *, source: str = "test") -> InboundResult:
        with db.session(write=True) as s:
            result = receive(s, mail_settings.workspace_id, raw, source=source, settings=settings)
            s.commit()
        return result

    return run


def set_policy(session: Session, workspace_id: int, **values: Any) -> None:
    row = session.query(MailSettings).filter_by(workspace_id=workspace_id).one()
    for key, value in values.items():
        setattr(row, key, value)
    session.commit()
