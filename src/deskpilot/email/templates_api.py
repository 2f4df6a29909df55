"""Notification templates over JSON: read the effective text of each kind, replace it, or go back
to the built-in one. The logic is in `templates_service`, shared with the admin pages."""

from __future__ import annotations

from fastapi import APIRouter, status

from deskpilot.email import templates_service
from deskpilot.email.templates_service import TemplateRead, TemplateReset, TemplateWrite
from deskpilot.web.deps import AdminContext, DbSession, StaffContext
from deskpilot.web.routing import TransactionalRoute

router = APIRouter(prefix="/api/v1/email", tags=["email"], route_class=TransactionalRoute)


@router.get("/templates", response_model=list[TemplateRead])
def list_templates(session: DbSession, ctx: StaffContext) -> list[TemplateRead]:
    return templates_service.list_templates(session, ctx)


@router.put("/templates", response_model=TemplateRead)
def put_template(data: TemplateWrite, session: DbSession, ctx: AdminContext) -> TemplateRead:
    """Replace one kind's template; placeholders the kind does not offer are refused."""
    return templates_service.save_template(session, ctx, data)


@router.post("/templates/reset", response_model=TemplateRead, status_code=status.HTTP_200_OK)
def reset_template(data: TemplateReset, session: DbSession, ctx: AdminContext) -> TemplateRead:
    """Go back to the built-in template of a kind."""
    return templates_service.reset_template(session, ctx, data.kind)
