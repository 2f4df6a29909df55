"""Notification emails, their admin templates, and the signed one-click links in them."""

from __future__ import annotations

import email
import re
import time
from email.message import Message as MimeMessage
from email.policy import default as default_policy
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from deskpilot.core.context import ActorType, Context
from deskpilot.email.models import EmailMessage, MailSettings
from deskpilot.email.notifications import KINDS
from deskpilot.settings import Settings
from deskpilot.tickets import service as tickets_service
from deskpilot.tickets.lifecycle import Status
from deskpilot.tickets.models import Ticket
from deskpilot.tickets.schemas import MessageCreate
from deskpilot.triage.models import AiDecision
from tests.email.conftest import make_email, set_policy
from tests.factories import Personas

API = "/api/v1/email/templates"
LINK_RE = re.compile(r"http://[^\s\"<>]+/email/(?:confirm|rate)/[A-Za-z0-9_.\-]+")


def sent(session: Session, settings: Settings, kind: str) -> list[MimeMessage]:
    rows = session.scalars(
        select(EmailMessage)
        .where(EmailMessage.direction == "outbound", EmailMessage.kind == kind)
        .order_by(EmailMessage.id)
    ).all()
    found = [(row.id, row.status) for row in rows]
    session.rollback()  # end the read: the app's requests need the (SQLite) write lock
    assert all(status == "sent" for _, status in found)
    return [
        email.message_from_bytes(
            (settings.data_dir / "outbox" / f"{email_id}.eml").read_bytes(), policy=default_policy
        )
        for email_id, _ in found
    ]


def text_of(message: MimeMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def html_of(message: MimeMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def links(message: MimeMessage) -> list[str]:
    return LINK_RE.findall(text_of(message))


def path_of(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[1].join(["/", ""])


def resolve(session: Session, personas: Personas, ticket_id: int) -> None:
    ticket = tickets_service.get_ticket(session, personas.ann.ctx, ticket_id, for_update=True)
    tickets_service.change_status(session, personas.ann.ctx, ticket, Status.resolved)
    session.commit()


@pytest.fixture(autouse=True)
def _notifications_on(session: Session, mail_settings: MailSettings) -> None:
    set_policy(session, mail_settings.workspace_id, notifications=dict.fromkeys(KINDS, True))


def test_ticket_received_answers_a_new_email_in_its_thread(
    deliver: Any, session: Session, settings: Settings
) -> None:
    deliver(
        make_email(message_id="<new@customer.example>", sender="Dave <dave@customer.example.com>")
    )
    [notice] = sent(session, settings, "ticket_received")
    assert notice["Subject"] == "We received your request: Cannot log in [#1]"
    assert notice["In-Reply-To"] == "<new@customer.example>"
    assert notice["Auto-Submitted"] == "auto-generated"
    assert "Hello Dave," in text_of(notice)
    assert "<strong>1</strong>" in html_of(notice)


def test_a_kind_switched_off_is_not_sent(
    deliver: Any, session: Session, settings: Settings, mail_settings: MailSettings
) -> None:
    set_policy(
        session,
        mail_settings.workspace_id,
        notifications={"ticket_received": False, "resolved_csat": True},
    )
    deliver(make_email(message_id="<quiet@customer.example>"))
    assert sent(session, settings, "ticket_received") == []


def test_values_are_escaped_in_the_html_part(
    deliver: Any, session: Session, settings: Settings
) -> None:
    deliver(
        make_email(
            message_id="<x@customer.example>",
            sender='"<b>Eve</b>" <eve@customer.example.com>',
            subject="<script>alert(1)</script>",
        )
    )
    [notice] = sent(session, settings, "ticket_received")
    assert "<b>Eve</b>" not in html_of(notice)
    assert "&lt;b&gt;Eve&lt;/b&gt;" in html_of(notice)
    assert "Hello <b>Eve</b>," in text_of(notice)


def test_resolved_mail_rates_the_ticket_with_one_click_and_a_button(
    deliver: Any, session: Session, settings: Settings, personas: Personas, client: TestClient
) -> None:
    first = deliver(make_email(message_id="<csat@customer.example>"))
    resolve(session, personas, first.ticket_id)
    [notice] = sent(session, settings, "resolved_csat")
    assert notice["Subject"] == "Resolved: Cannot log in [#1]"
    urls = links(notice)
    assert len(urls) == 5
    four = path_of(urls[3])
    page = client.get(four)
    assert page.status_code == 200
    assert "Send 4 of 5" in page.text
    assert session.get(Ticket, first.ticket_id).csat_score is None  # type: ignore[union-attr]
    session.rollback()
    done = client.post(four)
    assert done.status_code == 200
    assert session.get(Ticket, first.ticket_id).csat_score == 4  # type: ignore[union-attr]


def test_bad_and_expired_links_do_nothing(
    deliver: Any,
    session: Session,
    settings: Settings,
    personas: Personas,
    client: TestClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from deskpilot.email import notifications

    first = deliver(make_email(message_id="<bad@customer.example>"))
    resolve(session, personas, first.ticket_id)
    good = path_of(links(sent(session, settings, "resolved_csat")[0])[0])
    assert client.post(good[:-2] + "xx").status_code == 404
    # A rating link is not a confirmation link: the salts differ.
    assert client.post(good.replace("/rate/", "/confirm/")).status_code == 404
    real_time = time.time
    with monkeypatch.context() as patched:
        patched.setattr(time, "time", lambda: real_time() - 15 * 86400)
        old = notifications.sign(
            settings,
            notifications.RATE_SALT,
            {"w": personas.acme_owner.workspace_id, "t": first.ticket_id, "c": 1, "r": 1},
        )
    assert client.post(f"/email/rate/{old}").status_code == 410
    assert session.get(Ticket, first.ticket_id).csat_score is None  # type: ignore[union-attr]


def _ai_answer(session: Session, workspace_id: int, ticket_id: int) -> None:
    session.add(
        AiDecision(
            workspace_id=workspace_id,
            ticket_id=ticket_id,
            source="ticket",
            query="Cannot log in",
            decision="confirm",
            confidence=0.8,
            rule="threshold",
            answer="Reset your password.",
        )
    )
    ai = Context.system(workspace_id, ActorType.ai)
    tickets_service.add_message(session, ai, ticket_id, MessageCreate(body="Reset your password."))
    session.commit()


@pytest.mark.parametrize(("choice", "status"), [("yes", "resolved"), ("no", "in_progress")])
def test_ai_answer_mail_confirms_or_hands_off(
    deliver: Any,
    session: Session,
    settings: Settings,
    mail_settings: MailSettings,
    client: TestClient,
    choice: str,
    status: str,
) -> None:
    first = deliver(make_email(message_id=f"<ai-{choice}@customer.example>"))
    _ai_answer(session, mail_settings.workspace_id, first.ticket_id)
    [answer] = sent(session, settings, "ai_confirmation")
    assert answer["Subject"] == "Re: Cannot log in [#1]"
    assert "Reset your password." in text_of(answer)
    yes, no = links(answer)
    url = path_of(yes if choice == "yes" else no)
    assert client.post(url).status_code == 200
    ticket = session.get(Ticket, first.ticket_id)
    assert ticket is not None
    assert ticket.status == status
    session.rollback()
    # The answer has its outcome: the other link (or the same one again) changes nothing.
    again = client.post(path_of(no if choice == "yes" else yes))
    assert again.status_code == 409


def test_admin_template_is_validated_used_and_reset(
    deliver: Any, session: Session, settings: Settings, personas: Personas, client: TestClient
) -> None:
    admin = personas.acme_admin.headers
    listed = client.get(API, headers=personas.ann.headers)
    assert listed.status_code == 200
    assert [t["kind"] for t in listed.json()] == [
        "ticket_received",
        "resolved_csat",
        "ai_confirmation",
        "escalation_assigned",
    ]
    assert not any(t["customized"] for t in listed.json())
    body = {"kind": "ticket_received", "subject": "Got it: {{ ticket.subject }}",
            "body_text": "Number {{ ticket.number }} {{ confirm.yes_url }}"}  # fmt: skip
    refused = client.put(API, json=body, headers=admin)
    assert refused.status_code == 422
    assert refused.json()["error"]["details"] == [
        {"field": "body_text", "message": "unknown variable 'confirm.yes_url'"}
    ]
    assert client.put(API, json=body, headers=personas.ann.headers).status_code == 403
    body["body_text"] = "Number {{ ticket.number }} for {{ requester.name }}"
    saved = client.put(API, json=body, headers=admin)
    assert saved.status_code == 200
    assert saved.json()["customized"] is True
    deliver(
        make_email(message_id="<tpl@customer.example>", sender="Dave <dave@customer.example.com>")
    )
    [notice] = sent(session, settings, "ticket_received")
    assert notice["Subject"] == "Got it: Cannot log in [#1]"
    assert text_of(notice).strip() == "Number 1 for Dave"
    reset = client.post(f"{API}/reset", json={"kind": "ticket_received"}, headers=admin)
    assert reset.json()["customized"] is False
    assert reset.json()["subject"].startswith("We received your request")


def test_notifications_are_off_until_switched_on(
    deliver: Any, session: Session, settings: Settings, mail_settings: MailSettings
) -> None:
    set_policy(session, mail_settings.workspace_id, notifications={})
    deliver(make_email(message_id="<default@customer.example>"))
    assert sent(session, settings, "ticket_received") == []


def _held_receipt(session: Session) -> EmailMessage:
    [receipt] = session.scalars(
        select(EmailMessage).where(EmailMessage.kind == "ticket_received")
    ).all()
    session.rollback()
    return receipt


def _run_due_sends(session: Session) -> None:
    from deskpilot.jobs import queue
    from deskpilot.jobs.models import Job

    due = session.scalars(
        select(Job.id).where(Job.status == "pending", Job.name == "email.send")
    ).all()
    session.rollback()
    for job_id in due:
        queue.execute_job(job_id)


@pytest.mark.usefixtures("ai_pipeline")
def test_receipt_waits_for_the_ai_and_is_dropped_when_the_ai_answers(
    deliver: Any, session: Session, settings: Settings, mail_settings: MailSettings, clock: Any
) -> None:
    first = deliver(make_email(message_id="<held@customer.example>"))
    receipt = _held_receipt(session)
    assert receipt.status == "queued"  # held, not sent with the ticket's creation
    assert receipt.next_attempt_at is not None
    assert (receipt.next_attempt_at - clock.now).total_seconds() == pytest.approx(60, abs=1)

    _ai_answer(session, mail_settings.workspace_id, first.ticket_id)
    clock.advance(seconds=61)
    _run_due_sends(session)

    receipt = _held_receipt(session)
    assert (receipt.status, receipt.reason) == (
        "suppressed",
        "not needed: the ticket was answered before the receipt was due",
    )
    assert not (settings.data_dir / "outbox" / f"{receipt.id}.eml").exists()
    [answer] = sent(session, settings, "ai_confirmation")
    assert answer["Subject"] == "Re: Cannot log in [#1]"


@pytest.mark.usefixtures("ai_pipeline")
def test_receipt_goes_out_after_the_hold_when_the_ai_did_not_answer(
    deliver: Any, session: Session, settings: Settings, clock: Any
) -> None:
    deliver(make_email(message_id="<escalated@customer.example>"))
    assert _held_receipt(session).status == "queued"
    clock.advance(seconds=61)
    _run_due_sends(session)
    [receipt] = sent(session, settings, "ticket_received")
    assert "[#1]" in receipt["Subject"]


def test_without_the_ai_the_receipt_goes_out_at_once(
    deliver: Any, session: Session, settings: Settings
) -> None:
    deliver(make_email(message_id="<no-ai@customer.example>"))
    [receipt] = sent(session, settings, "ticket_received")
    assert "[#1]" in receipt["Subject"]
