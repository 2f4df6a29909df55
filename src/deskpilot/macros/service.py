"""Macros: reusable replies with variables and optional ticket changes, personal or shared.

Visibility: a personal macro exists only for its owner (everyone else gets 404, admins included);
shared macros are read by all staff and changed by admins. Applying a macro goes through the ticket
service only (one reply, one update), so it is audited like any agent action and is all-or-nothing
with the request's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Select, or_, update
from sqlalchemy.orm import Session

from deskpilot.auth import service as auth_service
from deskpilot.core.context import Context, Role
from deskpilot.core.errors import NotFound, ValidationFailed
from deskpilot.core.pagination import DEFAULT_PAGE_SIZE
from deskpilot.customers import service as customers_service
from deskpilot.db.pagination import keyset_page
from deskpilot.db.scoped import scoped
from deskpilot.idempotency import service as idempotency
from deskpilot.macros.models import Macro
from deskpilot.macros.rendering import render, unknown_variables
from deskpilot.macros.schemas import MacroChanges, MacroCreate, MacroUpdate
from deskpilot.tickets import service as tickets_service
from deskpilot.tickets.listing import normalize_tag
from deskpilot.tickets.models import Message, Ticket
from deskpilot.tickets.schemas import MessageCreate, TicketUpdate
from deskpilot.workspaces import service as workspaces_service

MAX_REPLY_LENGTH = 100_000


def _visible(ctx: Context, stmt: Select[Macro]) -> Select[Macro]:
    """Shared macros, and the caller's own personal ones."""
    return stmt.where(or_(Macro.owner_user_id.is_(None), Macro.owner_user_id == ctx.user_id))


# --- queries -------------------------------------------------------------------------------------


def get_macro(session: Session, ctx: Context, macro_id: int, *, for_update: bool = False) -> Macro:
    ctx.require_staff()
    stmt = _visible(ctx, scoped(ctx, Macro).where(Macro.id == macro_id))
    if for_update:
        stmt = stmt.with_for_update()
    macro = session.scalars(stmt).one_or_none()
    if macro is None:
        raise NotFound(f"Macro {macro_id} not found")
    return macro


def list_macros(
    session: Session,
    ctx: Context,
    *,
    q: str | None = None,
    shared: bool | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
) -> tuple[list[Macro], str | None]:
    """Macros the caller may use, in id order; `q` matches name or body, case-insensitively."""
    ctx.require_staff()
    stmt = _visible(ctx, scoped(ctx, Macro))
    if q:
        stmt = stmt.where(
            or_(Macro.name.icontains(q, autoescape=True), Macro.body.icontains(q, autoescape=True))
        )
    if shared is True:
        stmt = stmt.where(Macro.owner_user_id.is_(None))
    elif shared is False:
        stmt = stmt.where(Macro.owner_user_id.is_not(None))
    return keyset_page(session, stmt, Macro.id, limit=limit, cursor=cursor)


# --- commands ------------------------------------------------------------------------------------


def _stored_changes(changes: MacroChanges) -> dict[str, Any]:
    return changes.model_dump(mode="json", exclude_defaults=True)


def _validate(session: Session, ctx: Context, body: str, changes: MacroChanges) -> None:
    """Refuse, at save time, what would fail at apply time: unknown variables, foreign refs."""
    details: list[dict[str, str]] = []
    unknown = unknown_variables(body)
    if unknown:
        details.append({"field": "body", "message": f"unknown variables: {', '.join(unknown)}"})
    if changes.team_id is not None:
        try:
            workspaces_service.get_team(session, ctx, changes.team_id)
        except NotFound:
            details.append({"field": "changes.team_id", "message": "no team with this id"})
    if changes.assignee_id is not None:
        try:
            membership = auth_service.get_membership(session, ctx, changes.assignee_id)
        except NotFound:
            membership = None
        if membership is None or membership.role == Role.customer.value or not membership.is_active:
            details.append(
                {"field": "changes.assignee_id", "message": "no active agent with this id"}
            )
    if details:
        raise ValidationFailed("Invalid macro", details=details)


def _require_editable(ctx: Context, macro: Macro) -> None:
    """Owners edit their personal macros (nobody else sees them); admins edit shared ones."""
    if macro.owner_user_id is None:
        ctx.require_admin()


def create_macro(
    session: Session, ctx: Context, data: MacroCreate, *, idempotency_key: str | None = None
) -> tuple[Macro, bool]:
    """Returns (macro, created); a replayed Idempotency-Key returns the first macro."""
    ctx.require_staff()
    if data.shared:
        ctx.require_admin()
    claim = idempotency.claim(
        session,
        ctx,
        scope="macros.create",
        key=idempotency_key,
        payload=data.model_dump(mode="json"),
    )
    if claim.existing_id is not None:
        return get_macro(session, ctx, claim.existing_id), False
    _validate(session, ctx, data.body, data.changes)
    macro = Macro(
        workspace_id=ctx.workspace_id,
        name=data.name,
        body=data.body,
        visibility=data.visibility,
        changes=_stored_changes(data.changes),
        owner_user_id=None if data.shared else ctx.user_id,
        usage_count=0,
    )
    session.add(macro)
    session.flush()
    claim.bind(macro.id)
    return macro, True


def update_macro(session: Session, ctx: Context, macro_id: int, data: MacroUpdate) -> Macro:
    macro = get_macro(session, ctx, macro_id, for_update=True)
    _require_editable(ctx, macro)
    fields = data.model_dump(exclude_unset=True)
    changes = (
        data.changes if data.changes is not None else MacroChanges.model_validate(macro.changes)
    )
    _validate(session, ctx, fields.get("body", macro.body), changes)
    if "shared" in fields and fields["shared"] != (macro.owner_user_id is None):
        # Publishing a personal macro, or taking a shared one back as one's own: admins only.
        ctx.require_admin()
        macro.owner_user_id = None if fields["shared"] else ctx.user_id
    for name in ("name", "body", "visibility"):
        if name in fields:
            setattr(macro, name, fields[name])
    if data.changes is not None:
        macro.changes = _stored_changes(data.changes)
    session.flush()
    return macro


def delete_macro(session: Session, ctx: Context, macro_id: int) -> None:
    macro = get_macro(session, ctx, macro_id, for_update=True)
    _require_editable(ctx, macro)
    session.delete(macro)
    session.flush()


# --- applying ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Applied:
    preview: bool
    rendered: str
    visibility: str
    changes: dict[str, Any]
    message: Message | None
    ticket: Ticket


def variables_for(session: Session, ctx: Context, ticket: Ticket) -> dict[str, str]:
    """The values of every variable for this ticket and the acting agent."""
    requester = ticket.requester
    agent_name = ""
    if ctx.user_id is not None:
        agent = auth_service.get_member(session, ctx, ctx.user_id)
        agent_name = agent.name or agent.email
    organization = ""
    if ticket.organization_id is not None:
        try:
            organization = customers_service.get_organization(
                session, ctx, ticket.organization_id
            ).name
        except NotFound:
            organization = ""
    return {
        "requester.name": (requester.name or requester.email) if requester else "",
        "requester.email": requester.email if requester else "",
        "ticket.number": str(ticket.number),
        "ticket.subject": ticket.subject,
        "agent.name": agent_name,
        "organization.name": organization,
        "workspace.name": workspaces_service.get_workspace(session, ctx).name,
    }


def _ticket_update(ticket: Ticket, changes: MacroChanges) -> TicketUpdate | None:
    fields = changes.model_dump(exclude_defaults=True, exclude={"add_tags"})
    if changes.add_tags:
        fields["tags"] = sorted(set(ticket.tags) | {normalize_tag(t) for t in changes.add_tags})
    if not fields:
        return None
    try:
        return TicketUpdate.model_validate(fields)
    except ValidationError as exc:  # e.g. more tags than a ticket may carry
        raise ValidationFailed(
            "The macro's changes do not fit this ticket",
            details=[
                {"field": "changes." + ".".join(str(p) for p in err["loc"]), "message": err["msg"]}
                for err in exc.errors()
            ],
        ) from exc


def apply_macro(
    session: Session, ctx: Context, ticket_id: int, macro_id: int, *, preview: bool = False
) -> Applied:
    """Post the macro's rendered reply and apply its changes; `preview` only renders."""
    ctx.require_staff()
    macro = get_macro(session, ctx, macro_id)
    ticket = tickets_service.get_ticket(session, ctx, ticket_id, for_update=not preview)
    rendered = render(macro.body, variables_for(session, ctx, ticket))
    if len(rendered) > MAX_REPLY_LENGTH:
        raise ValidationFailed(
            "The rendered reply is too long",
            details=[{"field": "body", "message": f"at most {MAX_REPLY_LENGTH} characters"}],
        )
    ticket_update = _ticket_update(ticket, MacroChanges.model_validate(macro.changes))
    if preview:
        return Applied(True, rendered, macro.visibility, dict(macro.changes), None, ticket)
    message = None
    if rendered.strip():
        message = tickets_service.add_message(
            session,
            ctx,
            ticket.id,
            MessageCreate(
                body=rendered, visibility="internal" if macro.visibility == "internal" else "public"
            ),
        )
    if ticket_update is not None:
        ticket = tickets_service.update_ticket(session, ctx, ticket.id, ticket_update)
    # Atomic increment: two agents applying the macro at once both count.
    session.execute(
        update(Macro)
        .where(Macro.workspace_id == ctx.workspace_id, Macro.id == macro.id)
        .values(usage_count=Macro.usage_count + 1)
    )
    return Applied(False, rendered, macro.visibility, dict(macro.changes), message, ticket)
