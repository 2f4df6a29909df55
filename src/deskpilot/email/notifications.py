"""Notification emails to requesters, their templates, and the signed one-click links in them.

Kinds: `ticket_received` (a new email ticket was opened), `resolved_csat` (the ticket was
resolved; how did we do, 1-5) and `ai_confirmation` (the AI's answer, with "did this solve it?"
yes/no links; it replaces the plain reply for AI answers) go to the requester;
`escalation_assigned` (an escalated ticket is now yours, with the hand-off summary) goes to the
agent (`email/staff_hooks.py`). Each is off until the workspace's
`MailSettings.notifications` maps it to true (replies themselves always go out). An admin's `EmailTemplate` row replaces the
built-in text; templates use the macro placeholders (`{{ ticket.number }}`): values are inserted
as plain text (HTML-escaped in the HTML part), never evaluated.

Links are itsdangerous tokens signed with the app's secret key, one salt per purpose, valid for
`LINK_MAX_AGE`; they carry the workspace, ticket and requester, so acting on one needs no login.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from deskpilot.auth import service as auth_service
from deskpilot.core.context import Context
from deskpilot.customers.models import Contact
from deskpilot.email import outbound
from deskpilot.email.models import STAFF_KINDS, EmailMessage, EmailTemplate, MailSettings
from deskpilot.escalations import service as escalations_service
from deskpilot.macros import rendering
from deskpilot.settings import Settings
from deskpilot.tickets.models import Message, Ticket
from deskpilot.workspaces.models import Workspace

LINK_MAX_AGE = timedelta(days=14)
CONFIRM_SALT = "deskpilot.email.confirm"
RATE_SALT = "deskpilot.email.rate"

COMMON_VARIABLES = ("requester.name", "ticket.number", "ticket.subject", "workspace.name")
VARIABLES: dict[str, tuple[str, ...]] = {
    "ticket_received": COMMON_VARIABLES,
    "resolved_csat": (*COMMON_VARIABLES, *(f"rate.url_{n}" for n in range(1, 6))),
    "ai_confirmation": (*COMMON_VARIABLES, "ai.answer", "confirm.yes_url", "confirm.no_url"),
    "escalation_assigned": (
        *COMMON_VARIABLES,
        "agent.name",
        "escalation.reason",
        "escalation.summary",
        "ticket.url",
    ),
}
"""The placeholders each kind may use; others are refused when a template is saved."""
KINDS = tuple(VARIABLES)


@dataclass(frozen=True)
class Template:
    subject: str
    body_text: str
    body_html: str | None


_RATE_TEXT = "\n".join(f"  {n} - {{{{ rate.url_{n} }}}}" for n in range(1, 6))
_RATE_HTML = " ".join(
    f'<a href="{{{{ rate.url_{n} }}}}" style="padding:4px 10px">{n}</a>' for n in range(1, 6)
)
BUILTIN: dict[str, Template] = {
    "ticket_received": Template(
        subject="We received your request: {{ ticket.subject }}",
        body_text=(
            "Hello {{ requester.name }},\n\n"
            "thank you for writing to {{ workspace.name }}. Your request has the number "
            "{{ ticket.number }}; we will answer as soon as we can.\n\n"
            "To add anything, simply reply to this email."
        ),
        body_html=(
            "<p>Hello {{ requester.name }},</p>"
            "<p>thank you for writing to {{ workspace.name }}. Your request has the number "
            "<strong>{{ ticket.number }}</strong>; we will answer as soon as we can.</p>"
            "<p>To add anything, simply reply to this email.</p>"
        ),
    ),
    "resolved_csat": Template(
        subject="Resolved: {{ ticket.subject }}",
        body_text=(
            "Hello {{ requester.name }},\n\n"
            "your request {{ ticket.number }} has been resolved. If anything is still open, "
            "reply to this email and we will pick it up again.\n\n"
            "How satisfied are you with our help? (1 = not at all, 5 = very)\n" + _RATE_TEXT
        ),
        body_html=(
            "<p>Hello {{ requester.name }},</p>"
            "<p>your request <strong>{{ ticket.number }}</strong> has been resolved. If anything "
            "is still open, reply to this email and we will pick it up again.</p>"
            "<p>How satisfied are you with our help? (1 = not at all, 5 = very)</p>"
            f"<p>{_RATE_HTML}</p>"
        ),
    ),
    "ai_confirmation": Template(
        subject="Re: {{ ticket.subject }}",
        body_text=(
            "{{ ai.answer }}\n\n"
            "Did this solve your problem?\n"
            "  Yes, it is solved: {{ confirm.yes_url }}\n"
            "  No, I need a person: {{ confirm.no_url }}\n\n"
            "This answer was written by our AI assistant."
        ),
        body_html=(
            "<div>{{ ai.answer }}</div>"
            "<p>Did this solve your problem?</p>"
            '<p><a href="{{ confirm.yes_url }}">Yes, it is solved</a> &middot; '
            '<a href="{{ confirm.no_url }}">No, I need a person</a></p>'
            "<p><small>This answer was written by our AI assistant.</small></p>"
        ),
    ),
    "escalation_assigned": Template(
        subject="Escalated to you: #{{ ticket.number }} {{ ticket.subject }}",
        body_text=(
            "Hello {{ agent.name }},\n\n"
            "ticket {{ ticket.number }} from {{ requester.name }} was escalated "
            "({{ escalation.reason }}) and is now assigned to you.\n\n"
            "Summary:\n{{ escalation.summary }}\n\n"
            "Open it in the console: {{ ticket.url }}"
        ),
        body_html=(
            "<p>Hello {{ agent.name }},</p>"
            "<p>ticket <strong>{{ ticket.number }}</strong> from {{ requester.name }} was "
            "escalated ({{ escalation.reason }}) and is now assigned to you.</p>"
            '<p style="white-space:pre-wrap">{{ escalation.summary }}</p>'
            '<p><a href="{{ ticket.url }}">Open it in the console</a></p>'
        ),
    ),
}


def is_on(mail: MailSettings, kind: str) -> bool:
    """A kind is sent only once the workspace switched it on."""
    return (mail.notifications or {}).get(kind) is True


def unknown_variables(kind: str, *texts: str | None) -> list[str]:
    allowed = set(VARIABLES[kind])
    names = {n for text in texts if text for n in rendering.placeholders(text)}
    return sorted(names - allowed)


def custom_template(session: Session, workspace_id: int, kind: str) -> EmailTemplate | None:
    return session.scalars(
        select(EmailTemplate).where(
            EmailTemplate.workspace_id == workspace_id, EmailTemplate.kind == kind
        )
    ).one_or_none()


def effective_template(session: Session, workspace_id: int, kind: str) -> Template:
    row = custom_template(session, workspace_id, kind)
    if row is None:
        return BUILTIN[kind]
    return Template(row.subject, row.body_text, row.body_html)


# --- links ---------------------------------------------------------------------------------


def _serializer(settings: Settings, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.resolved_secret_key, salt=salt)


def sign(settings: Settings, salt: str, payload: dict[str, Any]) -> str:
    return str(_serializer(settings, salt).dumps(payload))


def read(settings: Settings, salt: str, token: str) -> dict[str, Any]:
    """The payload; raises itsdangerous.SignatureExpired or BadSignature."""
    payload: dict[str, Any] = _serializer(settings, salt).loads(
        token, max_age=int(LINK_MAX_AGE.total_seconds())
    )
    return payload


def _links(settings: Settings, ticket: Ticket, kind: str) -> dict[str, str]:
    base = settings.base_url.rstrip("/")
    who = {"w": ticket.workspace_id, "t": ticket.id, "c": ticket.requester_id}
    if kind == "ai_confirmation":
        return {
            "confirm.yes_url": f"{base}/email/confirm/{sign(settings, CONFIRM_SALT, {**who, 's': 1})}",
            "confirm.no_url": f"{base}/email/confirm/{sign(settings, CONFIRM_SALT, {**who, 's': 0})}",
        }
    if kind == "resolved_csat":
        return {
            f"rate.url_{n}": f"{base}/email/rate/{sign(settings, RATE_SALT, {**who, 'r': n})}"
            for n in range(1, 6)
        }
    return {}


# --- rendering and queueing ----------------------------------------------------------------


def _values(session: Session, ticket: Ticket) -> dict[str, str]:
    requester = session.get(Contact, ticket.requester_id) if ticket.requester_id else None
    workspace = session.get(Workspace, ticket.workspace_id)
    return {
        "requester.name": (requester.name or requester.email) if requester else "",
        "ticket.number": str(ticket.number),
        "ticket.subject": ticket.subject,
        "workspace.name": workspace.name if workspace else "",
    }


def _staff_values(
    session: Session, record: EmailMessage, ticket: Ticket, settings: Settings
) -> dict[str, str]:
    to = record.to_addresses[0] if record.to_addresses else ""
    agent = auth_service.get_user_by_email(session, to) if to else None
    system = Context.system(ticket.workspace_id)
    history = escalations_service.list_ticket_escalations(session, system, ticket.id)
    escalation = history[-1] if history else None
    return {
        "agent.name": (agent.name or agent.email) if agent is not None else to,
        "escalation.reason": escalation.reason.replace("_", " ") if escalation else "",
        "escalation.summary": (escalation.summary or "") if escalation else "",
        "ticket.url": f"{settings.base_url.rstrip('/')}/app/tickets/{ticket.number}",
    }


def _render_html(template: str, values: Mapping[str, str], raw: Mapping[str, str]) -> str:
    """Values are escaped, except `raw` ones that are already safe HTML (the sanitized
    Markdown rendering of a message)."""
    escaped = {k: html.escape(v, quote=True) for k, v in values.items()}
    return rendering.render(template, {**escaped, **raw})


def body_for(session: Session, record: EmailMessage, settings: Settings) -> tuple[str, str]:
    """(text, HTML) of an outbound email, rendered when it is sent (links are fresh then)."""
    message = session.get(Message, record.message_id) if record.message_id else None
    if record.kind == "reply" or record.kind not in VARIABLES:
        return (message.body, message.body_html) if message is not None else ("", "")
    ticket = session.get(Ticket, record.ticket_id) if record.ticket_id else None
    if ticket is None:
        return "", ""
    template = effective_template(session, record.workspace_id, record.kind)
    values = {**_values(session, ticket), **_links(settings, ticket, record.kind)}
    if record.kind in STAFF_KINDS:
        values.update(_staff_values(session, record, ticket, settings))
    raw: dict[str, str] = {}
    if message is not None:
        values["ai.answer"] = message.body
        raw["ai.answer"] = message.body_html
    text = rendering.render(template.body_text, values)
    body_html = _render_html(template.body_html, values, raw) if template.body_html else ""
    return text, body_html


def subject_for(session: Session, mail: MailSettings, ticket: Ticket, kind: str) -> str:
    """The rendered subject, with the ticket tag so a reply to it threads back."""
    template = effective_template(session, ticket.workspace_id, kind)
    subject = " ".join(rendering.render(template.subject, _values(session, ticket)).split())
    tag = mail.subject_tag.replace("{number}", str(ticket.number))
    return subject if tag in subject else f"{subject} {tag}"


def staff_subject(session: Session, ticket: Ticket, kind: str) -> str:
    """Mail to agents carries no ticket tag: a reply to it must not look like the customer's."""
    template = effective_template(session, ticket.workspace_id, kind)
    return " ".join(rendering.render(template.subject, _values(session, ticket)).split())


def queue_notification(
    session: Session,
    mail: MailSettings,
    ticket: Ticket,
    kind: str,
    *,
    message: Message | None = None,
    hold_seconds: float = 0.0,
) -> EmailMessage | None:
    """Queue one notification of `kind` for the ticket's requester (if the kind is on)."""
    if not is_on(mail, kind):
        return None
    return outbound.queue_email(
        session,
        mail,
        ticket,
        kind=kind,
        subject=subject_for(session, mail, ticket, kind),
        message=message,
        hold_seconds=hold_seconds,
    )
