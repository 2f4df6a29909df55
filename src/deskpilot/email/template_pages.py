"""Admin pages for notification templates (/admin/email/templates).

Included into `email.pages.router`. Everything goes through `templates_service`, the same
functions as `/api/v1/email/templates`. The preview renders a draft with sample values and saves
nothing: htmx swaps just the preview box, a plain form post gets the whole page back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from deskpilot.core.errors import ValidationFailed
from deskpilot.email import templates_service
from deskpilot.email.templates_service import TemplatePreview, TemplateWrite
from deskpilot.web.deps import DbSession, get_settings
from deskpilot.web.page_deps import AdminPage, redirect
from deskpilot.web.routing import TransactionalRoute
from deskpilot.web.templating import PageContext, render
from deskpilot.workspaces.team_pages import field_errors, schema_errors

router = APIRouter(tags=["pages"], route_class=TransactionalRoute, include_in_schema=False)

KIND_LABELS = {
    "ticket_received": "Ticket received",
    "resolved_csat": "Resolved, with rating",
    "ai_confirmation": "AI answer with confirmation",
    "escalation_assigned": "Escalation assigned",
}
KIND_DESCRIPTIONS = {
    "ticket_received": "To the requester when an email opens a new ticket: confirms the number.",
    "resolved_csat": "To the requester when the ticket is resolved, with five rating links (1-5).",
    "ai_confirmation": (
        "To the requester when the AI answers, asking whether the answer solved the problem. "
        "It replaces the plain reply for AI answers."
    ),
    "escalation_assigned": (
        "To the agent who is given an escalated ticket, with the reason and hand-off summary."
    ),
}
TEMPLATE_FIELDS = ("subject", "body_text", "body_html")

KindPath = Annotated[str, Path(max_length=40)]
Subject = Annotated[str, Form(max_length=1000)]
BodyText = Annotated[str, Form(max_length=60_000)]
BodyHtml = Annotated[str, Form(max_length=120_000)]


@dataclass(frozen=True)
class TemplateRow:
    kind: str
    label: str
    description: str
    customized: bool
    enabled: bool


@dataclass(kw_only=True)
class TemplatesPage(PageContext):
    templates: list[TemplateRow]
    nav: str = "admin"


@router.get("/admin/email/templates")
def templates(request: Request, session: DbSession, auth: AdminPage) -> Response:
    rows = [
        TemplateRow(t.kind, KIND_LABELS[t.kind], KIND_DESCRIPTIONS[t.kind], t.customized, t.enabled)
        for t in templates_service.list_templates(session, auth.ctx)
    ]
    page = TemplatesPage(title="Email templates", viewer=auth.viewer, templates=rows)
    return render(request, "email/admin_templates.html", page)


# --- one template ----------------------------------------------------------------------------


@dataclass
class TemplateForm:
    subject: str
    body_text: str
    body_html: str


@dataclass(frozen=True)
class Variable:
    name: str
    description: str


@dataclass(kw_only=True)
class TemplatePage(PageContext):
    kind: str
    label: str
    description: str
    customized: bool
    enabled: bool
    form: TemplateForm
    variables: list[Variable]
    preview: TemplatePreview
    errors: dict[str, str] = field(default_factory=dict)
    nav: str = "admin"


def _preview(request: Request, auth: AdminPage, kind: str, form: TemplateForm) -> TemplatePreview:
    return templates_service.preview_template(
        auth.ctx,
        kind,
        subject=form.subject,
        body_text=form.body_text,
        body_html=form.body_html or None,
        workspace_name=auth.viewer.workspace_name,
        base_url=get_settings(request).base_url,
    )


def _template_page(
    request: Request,
    session: Session,
    auth: AdminPage,
    kind: str,
    *,
    form: TemplateForm | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    current = templates_service.read_template(session, auth.ctx, kind)
    form = form or TemplateForm(current.subject, current.body_text, current.body_html or "")
    page = TemplatePage(
        title=f"Email template: {KIND_LABELS[kind]}",
        viewer=auth.viewer,
        kind=kind,
        label=KIND_LABELS[kind],
        description=KIND_DESCRIPTIONS[kind],
        customized=current.customized,
        enabled=current.enabled,
        form=form,
        variables=[
            Variable(name, templates_service.VARIABLE_DESCRIPTIONS.get(name, ""))
            for name in current.variables
        ],
        preview=_preview(request, auth, kind, form),
        errors=errors or {},
    )
    return render(
        request,
        "email/admin_template.html",
        page,
        partial="email/_template_preview.html",
        status_code=status_code,
    )


@router.get("/admin/email/templates/{kind}")
def template_detail(
    kind: KindPath, request: Request, session: DbSession, auth: AdminPage
) -> Response:
    return _template_page(request, session, auth, kind)


@router.post("/admin/email/templates/{kind}")
def save_template(
    kind: KindPath,
    request: Request,
    session: DbSession,
    auth: AdminPage,
    subject: Subject = "",
    body_text: BodyText = "",
    body_html: BodyHtml = "",
) -> Response:
    templates_service.builtin_template(kind)  # an unknown kind is 404, not a form error
    form = TemplateForm(subject, body_text, body_html)
    try:
        data = TemplateWrite.model_validate(
            {"kind": kind, "subject": subject, "body_text": body_text,
             "body_html": body_html if body_html.strip() else None}
        )  # fmt: skip
        templates_service.save_template(session, auth.ctx, data)
    except ValidationError as exc:
        return _template_page(
            request, session, auth, kind, form=form, errors=schema_errors(exc), status_code=422
        )
    except ValidationFailed as exc:
        errors = field_errors(exc, TEMPLATE_FIELDS, "subject")
        return _template_page(
            request, session, auth, kind, form=form, errors=errors, status_code=exc.status
        )
    return redirect(
        request, f"/admin/email/templates/{kind}", flash=f"Template {KIND_LABELS[kind]} saved."
    )


@router.post("/admin/email/templates/{kind}/preview")
def preview_template(
    kind: KindPath,
    request: Request,
    session: DbSession,
    auth: AdminPage,
    subject: Subject = "",
    body_text: BodyText = "",
    body_html: BodyHtml = "",
) -> Response:
    """Show the draft as typed, rendered with sample values; nothing is saved."""
    form = TemplateForm(subject, body_text, body_html)
    return _template_page(request, session, auth, kind, form=form)


@router.post("/admin/email/templates/{kind}/reset")
def reset_template(
    kind: KindPath, request: Request, session: DbSession, auth: AdminPage
) -> Response:
    templates_service.reset_template(session, auth.ctx, kind)
    return redirect(
        request,
        f"/admin/email/templates/{kind}",
        flash=f"Template {KIND_LABELS[kind]} is back to the built-in text.",
    )
