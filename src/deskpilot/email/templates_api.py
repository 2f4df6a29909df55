"""Notification templates: read the effective text of each kind, replace it, or go back to the
built-in one. Templates are workspace data; `kind` is one of `notifications.KINDS`."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, StringConstraints
from sqlalchemy.orm import Session

from deskpilot.core.context import Context
from deskpilot.core.errors import ValidationFailed
from deskpilot.email import notifications
from deskpilot.email.models import EmailTemplate
from deskpilot.email.settings_service import get_mail_settings
from deskpilot.web.deps import AdminContext, DbSession, StaffContext
from deskpilot.web.routing import TransactionalRoute

router = APIRouter(prefix="/api/v1/email", tags=["email"], route_class=TransactionalRoute)
Kind = Literal["ticket_received", "resolved_csat", "ai_confirmation", "escalation_assigned"]


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


def _read(session: Session, ctx: Context, kind: str) -> TemplateRead:
    template = notifications.effective_template(session, ctx.workspace_id, kind)
    mail = get_mail_settings(session, ctx.workspace_id)
    return TemplateRead(
        kind=kind,
        subject=template.subject,
        body_text=template.body_text,
        body_html=template.body_html,
        customized=notifications.custom_template(session, ctx.workspace_id, kind) is not None,
        enabled=mail is not None and mail.enabled and notifications.is_on(mail, kind),
        variables=list(notifications.VARIABLES[kind]),
    )


@router.get("/templates", response_model=list[TemplateRead])
def list_templates(session: DbSession, ctx: StaffContext) -> list[TemplateRead]:
    return [_read(session, ctx, kind) for kind in notifications.KINDS]


@router.put("/templates", response_model=TemplateRead)
def put_template(data: TemplateWrite, session: DbSession, ctx: AdminContext) -> TemplateRead:
    """Replace one kind's template; placeholders the kind does not offer are refused."""
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
    return _read(session, ctx, data.kind)


@router.post("/templates/reset", response_model=TemplateRead, status_code=status.HTTP_200_OK)
def reset_template(data: TemplateReset, session: DbSession, ctx: AdminContext) -> TemplateRead:
    """Go back to the built-in template of a kind."""
    row = notifications.custom_template(session, ctx.workspace_id, data.kind)
    if row is not None:
        session.delete(row)
        session.flush()
    return _read(session, ctx, data.kind)
