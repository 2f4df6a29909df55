"""Email JSON routes: mail settings, and raw inbound mail posted by a mail gateway."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, status

from deskpilot.core.errors import NotFound, PayloadTooLarge, ValidationFailed
from deskpilot.email import inbound, settings_service
from deskpilot.email.schemas import InboundResult, MailSettingsRead, MailSettingsWrite
from deskpilot.web.deps import AdminContext, DbSession, StaffContext, get_settings
from deskpilot.web.routing import TransactionalRoute
from deskpilot.workspaces import service as workspaces_service

router = APIRouter(prefix="/api/v1/email", tags=["email"], route_class=TransactionalRoute)
INBOUND_PATH = "/api/v1/email/inbound"


async def _raw_message(request: Request) -> bytes:
    """The request body as received: an RFC 822 message, not JSON."""
    limit = inbound.max_message_bytes(get_settings(request))
    body = await request.body()
    if len(body) > limit:
        raise PayloadTooLarge(
            f"The email exceeds the limit of {limit} bytes", details={"limit_bytes": limit}
        )
    if not body.strip():
        raise ValidationFailed(
            "The body must be a raw RFC 822 email",
            details=[{"field": "body", "message": "empty"}],
        )
    return body


RawMessage = Annotated[bytes, Depends(_raw_message)]


@router.get("/settings", response_model=MailSettingsRead)
def get_mail_settings(session: DbSession, ctx: StaffContext) -> MailSettingsRead:
    return settings_service.read_settings(session, ctx)


@router.put("/settings", response_model=MailSettingsRead)
def put_mail_settings(
    data: MailSettingsWrite, session: DbSession, ctx: AdminContext
) -> MailSettingsRead:
    return settings_service.write_settings(session, ctx, data)


@router.post(
    "/inbound/{workspace}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=InboundResult,
    openapi_extra={"requestBody": {"content": {"message/rfc822": {"schema": {"type": "string"}}}}},
)
def post_inbound(
    workspace: Annotated[str, Path(description="The workspace slug.", max_length=100)],
    raw: RawMessage,
    request: Request,
    session: DbSession,
    ctx: AdminContext,
) -> InboundResult:
    """A gateway (or a script) hands over one received email with an admin token of the
    workspace; other workspaces' slugs are 404."""
    # Named `workspace`, not `workspace_slug`: that name marks anonymous routes in the tests.
    target = workspaces_service.get_workspace_by_slug(session, workspace)
    if target is None or target.id != ctx.workspace_id:
        raise NotFound(f"Workspace {workspace!r} not found")
    return inbound.receive(session, target.id, raw, source="api", settings=get_settings(request))
