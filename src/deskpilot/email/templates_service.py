"""Notification templates as admins see them: read the effective text of each kind, replace it,
go back to the built-in one, and preview a draft with sample values.

Both `templates_api` (JSON) and `pages` (HTML) call these functions, so the permission checks
and the placeholder validation live in one place. Templates are workspace data; `kind` is one of
`notifications.KINDS`.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Annotated, Literal, cast

from pydantic import BaseModel, ConfigDict, StringConstraints
from sqlalchemy.orm import Session

from deskpilot.core.context import Context
from deskpilot.core.errors import NotFound, ValidationFailed
from deskpilot.email import notifications
from deskpilot.email.models import EmailTemplate
from deskpilot.email.settings_service import get_mail_settings
from deskpilot.macros import rendering

Kind = Literal["ticket_received", "resolved_csat", "ai_confirmation", "escalation_assigned"]

VARIABLE_DESCRIPTIONS: dict[str, str] = {
    "requester.name": "The requester's name (their email address when they gave no name)",
    "ticket.number": "The ticket's number in the workspace",
    "ticket.subject": "The ticket's subject",
    "workspace.name": "The workspace's name",
    **{f"rate.url_{n}": f"Link that rates the help {n} out of 5" for n in range(1, 6)},
    "ai.answer": "The AI's answer (its formatted HTML in the HTML part)",
    "confirm.yes_url": "Link the requester follows when the answer solved the problem",
    "confirm.no_url": "Link the requester follows to get a person instead",
    "agent.name": "The name of the agent the ticket is assigned to",
    "escalation.reason": "Why the ticket was escalated",
    "escalation.summary": "The hand-off summary written for the agent",
    "ticket.url": "Link to the ticket in the agent console",
}
"""What each placeholder stands for, for people writing templates."""


class TemplateRead(BaseModel):
    kind: Kind
    subject: str
    body_text: str
    body_html: str | None
    customized: bool
    enabled: bool
    variables: list[str]


class TemplateWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Kind
    subject: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    body_text: Annotated[str, StringConstraints(min_length=1, max_length=50_000)]
    body_html: Annotated[str, StringConstraints(max_length=100_000)] | None = None


class TemplateReset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Kind


@dataclass(frozen=True)
class TemplatePreview:
    """A draft rendered with sample values; `unknown` lists placeholders the kind does not offer
    (they stay as written in the preview and would be refused on save)."""

    subject: str
    body_text: str
    body_html: str | None
    unknown: list[str]


def _check_kind(kind: str) -> str:
    if kind not in notifications.KINDS:
        raise NotFound(f"There is no notification kind {kind!r}")
    return kind


def read_template(session: Session, ctx: Context, kind: str) -> TemplateRead:
    """The template a kind uses now: the workspace's own, or the built-in one."""
    ctx.require_staff()
    _check_kind(kind)
    template = notifications.effective_template(session, ctx.workspace_id, kind)
    mail = get_mail_settings(session, ctx.workspace_id)
    return TemplateRead(
        kind=cast(Kind, kind),  # checked against KINDS above
        subject=template.subject,
        body_text=template.body_text,
        body_html=template.body_html,
        customized=notifications.custom_template(session, ctx.workspace_id, kind) is not None,
        enabled=mail is not None and mail.enabled and notifications.is_on(mail, kind),
        variables=list(notifications.VARIABLES[kind]),
    )


def list_templates(session: Session, ctx: Context) -> list[TemplateRead]:
    """One entry per kind, in the order of `notifications.KINDS`."""
    return [read_template(session, ctx, kind) for kind in notifications.KINDS]


def save_template(session: Session, ctx: Context, data: TemplateWrite) -> TemplateRead:
    """Replace one kind's template; placeholders the kind does not offer are refused."""
    ctx.require_admin()
    details = [
        {"field": field, "message": f"unknown variable {name!r}"}
        for field, text in (
            ("subject", data.subject),
            ("body_text", data.body_text),
            ("body_html", data.body_html),
        )
        for name in notifications.unknown_variables(data.kind, text)
    ]
    if details:
        raise ValidationFailed("Invalid template", details=details)
    row = notifications.custom_template(session, ctx.workspace_id, data.kind)
    if row is None:
        row = EmailTemplate(workspace_id=ctx.workspace_id, kind=data.kind)
        session.add(row)
    row.subject, row.body_text, row.body_html = data.subject, data.body_text, data.body_html
    session.flush()
    return read_template(session, ctx, data.kind)


def reset_template(session: Session, ctx: Context, kind: str) -> TemplateRead:
    """Go back to the built-in template of a kind (nothing to do when it has none of its own)."""
    ctx.require_admin()
    _check_kind(kind)
    row = notifications.custom_template(session, ctx.workspace_id, kind)
    if row is not None:
        session.delete(row)
        session.flush()
    return read_template(session, ctx, kind)


def builtin_template(kind: str) -> notifications.Template:
    return notifications.BUILTIN[_check_kind(kind)]


def sample_values(kind: str, *, workspace_name: str, base_url: str) -> dict[str, str]:
    """Made-up values for every placeholder of a kind, as a real email would fill them."""
    base = base_url.rstrip("/")
    samples = {
        "requester.name": "Dana Example",
        "ticket.number": "42",
        "ticket.subject": "Cannot log in",
        "workspace.name": workspace_name,
        **{f"rate.url_{n}": f"{base}/email/rate/sample-{n}" for n in range(1, 6)},
        "ai.answer": "Open Settings, choose Security and press Reset password.",
        "confirm.yes_url": f"{base}/email/confirm/sample-yes",
        "confirm.no_url": f"{base}/email/confirm/sample-no",
        "agent.name": "Alex Agent",
        "escalation.reason": "customer asked for a person",
        "escalation.summary": "The customer cannot log in after resetting the password twice.",
        "ticket.url": f"{base}/app/tickets/42",
    }
    return {name: samples[name] for name in notifications.VARIABLES[_check_kind(kind)]}


def preview_template(
    ctx: Context,
    kind: str,
    *,
    subject: str,
    body_text: str,
    body_html: str | None,
    workspace_name: str,
    base_url: str,
) -> TemplatePreview:
    """Render a draft (saved or not) the way `notifications` renders a real email: values are
    plain text, HTML-escaped in the HTML part, and nothing in the template is evaluated."""
    ctx.require_staff()
    values = sample_values(kind, workspace_name=workspace_name, base_url=base_url)
    escaped = {name: html.escape(value, quote=True) for name, value in values.items()}
    if "ai.answer" in values:
        # The real HTML part carries the answer's sanitized HTML rendering, not escaped text.
        escaped["ai.answer"] = f"<p>{escaped['ai.answer']}</p>"
    return TemplatePreview(
        subject=" ".join(rendering.render(subject, values).split()),
        body_text=rendering.render(body_text, values),
        body_html=rendering.render(body_html, escaped) if body_html else None,
        unknown=notifications.unknown_variables(kind, subject, body_text, body_html),
    )
