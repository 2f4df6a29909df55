"""Tickets: the one write path for every ticket change, each recorded as an audit event."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from deskpilot.auth import service as auth_service
from deskpilot.core.clock import utcnow
from deskpilot.core.context import ActorType, Context, Role
from deskpilot.core.errors import (
    Conflict,
    IllegalTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from deskpilot.core.markdown import render_markdown
from deskpilot.customers import service as customers_service
from deskpilot.db.scoped import get_scoped, scoped
from deskpilot.idempotency import service as idempotency
from deskpilot.tickets import hooks
from deskpilot.tickets.lifecycle import (
    Priority,
    Status,
    allowed_targets,
    can_transition,
    is_reopen,
)
from deskpilot.tickets.listing import normalize_tag

# Read helpers for pages live in `tickets.lookups`; re-exported so callers need one module.
from deskpilot.tickets.lookups import get_ticket as get_ticket
from deskpilot.tickets.lookups import get_ticket_by_number as get_ticket_by_number
from deskpilot.tickets.lookups import has_public_reply as has_public_reply
from deskpilot.tickets.lookups import latest_event_id as latest_event_id
from deskpilot.tickets.lookups import list_events as list_events
from deskpilot.tickets.lookups import list_messages as list_messages
from deskpilot.tickets.lookups import ticket_numbers as ticket_numbers
from deskpilot.tickets.models import Attachment, Message, Ticket, TicketEvent, TicketTag
from deskpilot.tickets.schemas import MessageCreate, SatisfactionCreate, TicketCreate, TicketUpdate
from deskpilot.workspaces import service as workspaces_service


def _normalize_tags(tags: Sequence[str]) -> list[str]:
    return sorted({normalize_tag(t) for t in tags if normalize_tag(t)})


# --- queries -------------------------------------------------------------------------------------


# --- commands ------------------------------------------------------------------------------------


def _record(
    session: Session,
    ctx: Context,
    ticket: Ticket,
    kind: str,
    *,
    field: str | None = None,
    old: Any = None,
    new: Any = None,
    meta: dict[str, Any] | None = None,
) -> TicketEvent:
    event = TicketEvent(
        workspace_id=ctx.workspace_id,
        # By relationship, not id: a new ticket and its first event go out in one flush.
        ticket=ticket,
        kind=kind,
        actor_type=ctx.actor_type.value,
        actor_user_id=ctx.user_id,
        field=field,
        old_value=old,
        new_value=new,
        meta=meta or {},
        created_at=utcnow(),
    )
    session.add(event)
    hooks.note(session, event)
    return event


@hooks.dispatching
def create_ticket(
    session: Session, ctx: Context, data: TicketCreate, *, idempotency_key: str | None = None
) -> tuple[Ticket, bool]:
    """Create a ticket atomically. Returns (ticket, created); a replayed key returns the original."""
    claim = idempotency.claim(
        session,
        ctx,
        scope="tickets.create",
        key=idempotency_key,
        payload=data.model_dump(mode="json"),
    )
    if claim.existing_id is not None:
        return get_ticket(session, ctx, claim.existing_id), False

    if ctx.role == Role.customer:
        requester = _customer_contact(session, ctx)
        if data.assignee_id or data.team_id or data.parent_id:
            raise ValidationFailed(
                "Customers cannot route tickets",
                details=[{"field": "assignee_id", "message": "not allowed for customers"}],
            )
    elif data.requester is not None:
        requester = customers_service.find_or_create_contact(
            session, ctx, email=str(data.requester.email), name=data.requester.name
        )
    else:
        raise ValidationFailed(
            "A requester is required", details=[{"field": "requester", "message": "Field required"}]
        )
    _check_refs(
        session, ctx, assignee_id=data.assignee_id, team_id=data.team_id, parent_id=data.parent_id
    )

    now = utcnow()
    ticket = Ticket(
        workspace_id=ctx.workspace_id,
        number=workspaces_service.next_ticket_number(session, ctx),
        subject=data.subject,
        description=data.description,
        status=Status.new.value,
        priority=(data.priority or Priority.normal).value,
        impact=data.impact.value if data.impact else "single_user",
        channel=data.channel.value,
        type=data.type.value if data.type else None,
        category=data.category,
        custom_fields=data.custom_fields,
        requester_id=requester.id,
        organization_id=requester.organization_id,
        assignee_id=data.assignee_id,
        team_id=data.team_id,
        parent_id=data.parent_id,
        reopened_count=0,
        created_at=now,
        updated_at=now,
    )
    ticket.tag_rows = [
        TicketTag(workspace_id=ctx.workspace_id, tag=t) for t in _normalize_tags(data.tags)
    ]
    ticket.requester = requester
    session.add(ticket)
    _record(
        session, ctx, ticket, "created", meta={"channel": ticket.channel, "number": ticket.number}
    )
    session.flush()
    claim.bind(ticket.id)
    _request_ai(session, ctx, ticket, None)
    return ticket, True


def _request_ai(session: Session, ctx: Context, ticket: Ticket, message_id: int | None) -> None:
    """Queue the AI pipeline for what the customer just said (it runs after this commit)."""
    # Imported here: the AI engine builds on tickets, so tickets may not import it at load time.
    from deskpilot.triage.pipeline import request_triage

    request_triage(session, ctx, ticket, message_id)


def _customer_contact(session: Session, ctx: Context) -> Any:
    if ctx.contact_id is None:
        raise ValidationFailed(
            "This customer account has no contact record",
            details=[{"field": "requester", "message": "customer account not linked to a contact"}],
        )
    from deskpilot.customers.models import Contact

    return get_scoped(session, ctx, Contact, ctx.contact_id, what="Contact")


def _check_refs(
    session: Session,
    ctx: Context,
    *,
    assignee_id: int | None = None,
    team_id: int | None = None,
    parent_id: int | None = None,
) -> None:
    """References must point inside the workspace; a bad one is a 422 on that field."""
    if assignee_id is not None:
        try:
            membership = auth_service.get_membership(session, ctx, assignee_id)
        except NotFound:
            membership = None
        if membership is None or membership.role == Role.customer.value or not membership.is_active:
            raise ValidationFailed(
                "Unknown assignee",
                details=[{"field": "assignee_id", "message": "no active agent with this id"}],
            )
    if team_id is not None:
        try:
            workspaces_service.get_team(session, ctx, team_id)
        except NotFound as exc:
            raise ValidationFailed(
                "Unknown team", details=[{"field": "team_id", "message": "no team with this id"}]
            ) from exc
    if parent_id is not None:
        try:
            get_ticket(session, ctx, parent_id)
        except NotFound as exc:
            raise ValidationFailed(
                "Unknown parent ticket",
                details=[{"field": "parent_id", "message": "no ticket with this id"}],
            ) from exc


FIELD_EVENT_KINDS = {
    "subject": "field_changed",
    "priority": "priority_changed",
    "impact": "field_changed",
    "type": "type_changed",
    "category": "category_changed",
    "assignee_id": "assigned",
    "team_id": "team_changed",
    "parent_id": "linked",
}


def _refuse_if_merged(ticket: Ticket) -> None:
    """A merged duplicate is a closed record: its conversation now lives on the target."""
    if ticket.merged_into_id is not None:
        raise Conflict(
            f"Ticket {ticket.id} was merged into ticket {ticket.merged_into_id}",
            details={"merged_into_id": ticket.merged_into_id},
        )


@hooks.dispatching
def update_ticket(session: Session, ctx: Context, ticket_id: int, data: TicketUpdate) -> Ticket:
    ctx.require_staff()
    ticket = get_ticket(session, ctx, ticket_id, for_update=True)
    _refuse_if_merged(ticket)
    changes = data.model_dump(exclude_unset=True, mode="json")
    if "parent_id" in changes and changes["parent_id"] == ticket.id:
        raise ValidationFailed(
            "A ticket cannot be its own parent",
            details=[{"field": "parent_id", "message": "must differ from the ticket"}],
        )
    _check_refs(
        session,
        ctx,
        assignee_id=changes.get("assignee_id"),
        team_id=changes.get("team_id"),
        parent_id=changes.get("parent_id"),
    )
    for name, kind in FIELD_EVENT_KINDS.items():
        if name in changes and changes[name] != getattr(ticket, name):
            if name in ("subject", "priority", "impact") and changes[name] is None:
                raise ValidationFailed(
                    f"{name} cannot be null", details=[{"field": name, "message": "cannot be null"}]
                )
            _record(
                session, ctx, ticket, kind, field=name, old=getattr(ticket, name), new=changes[name]
            )
            setattr(ticket, name, changes[name])
    if "custom_fields" in changes and changes["custom_fields"] is not None:
        merged = {**ticket.custom_fields, **changes["custom_fields"]}
        merged = {k: v for k, v in merged.items() if v is not None}
        if merged != ticket.custom_fields:
            _record(
                session,
                ctx,
                ticket,
                "field_changed",
                field="custom_fields",
                old=ticket.custom_fields,
                new=merged,
            )
            ticket.custom_fields = merged
    if "tags" in changes and changes["tags"] is not None:
        _set_tags(session, ctx, ticket, _normalize_tags(changes["tags"]))
    if "status" in changes and changes["status"] is not None:
        change_status(session, ctx, ticket, Status(changes["status"]))
    ticket.updated_at = utcnow()
    session.flush()
    return ticket


def _set_tags(session: Session, ctx: Context, ticket: Ticket, tags: list[str]) -> None:
    current = set(ticket.tags)
    wanted = set(tags)
    if current == wanted:
        return
    kept = [row for row in ticket.tag_rows if row.tag in wanted]
    added = [TicketTag(workspace_id=ctx.workspace_id, tag=t) for t in wanted - current]
    ticket.tag_rows = sorted(kept + added, key=lambda row: row.tag)
    _record(
        session,
        ctx,
        ticket,
        "tagged",
        field="tags",
        old=sorted(current),
        new=sorted(wanted),
        meta={"added": sorted(wanted - current), "removed": sorted(current - wanted)},
    )


def check_transition(ticket: Ticket, target: Status) -> None:
    """Raise `IllegalTransition` (with the allowed targets) unless `target` is reachable now.

    Lets a caller refuse a combined action (e.g. "send and resolve") before writing anything."""
    current = Status(ticket.status)
    if current != target and not can_transition(current, target):
        raise IllegalTransition(
            f"Cannot move a ticket from {current.value} to {target.value}",
            details={
                "from": current.value,
                "to": target.value,
                "allowed": allowed_targets(current),
            },
        )


@hooks.dispatching
def change_status(
    session: Session, ctx: Context, ticket: Ticket, target: Status, *, reason: str | None = None
) -> None:
    """Apply one legal transition, maintaining resolved/closed timestamps and the reopen count."""
    current = Status(ticket.status)
    if current == target:
        return
    check_transition(ticket, target)
    now = utcnow()
    kind = "status_changed"
    if is_reopen(current, target):
        kind = "reopened"
        ticket.reopened_count += 1
        ticket.resolved_at = None
        ticket.closed_at = None
    elif target == Status.resolved:
        kind = "resolved"
        ticket.resolved_at = now
    elif target == Status.closed:
        kind = "closed"
        ticket.closed_at = now
    meta = {"reason": reason} if reason else None
    _record(
        session, ctx, ticket, kind, field="status", old=current.value, new=target.value, meta=meta
    )
    ticket.status = target.value
    ticket.updated_at = now


@hooks.dispatching
def add_message(
    session: Session,
    ctx: Context,
    ticket_id: int,
    data: MessageCreate,
    *,
    ai_meta: dict[str, Any] | None = None,
) -> Message:
    ticket = get_ticket(session, ctx, ticket_id, for_update=True)
    _refuse_if_merged(ticket)
    if ctx.role == Role.customer:
        if data.visibility != "public":
            raise ValidationFailed(
                "Customers cannot write internal notes",
                details=[{"field": "visibility", "message": "must be public"}],
            )
        author_type = "customer"
    else:
        author_type = {ActorType.ai: "ai", ActorType.system: "system"}.get(ctx.actor_type, "agent")
    attachments = _claim_attachments(session, ctx, data.attachment_ids)
    now = utcnow()
    message = Message(
        workspace_id=ctx.workspace_id,
        ticket_id=ticket.id,
        author_type=author_type,
        author_user_id=ctx.user_id,
        author_contact_id=ctx.contact_id if author_type == "customer" else None,
        visibility=data.visibility,
        channel=ticket.channel,
        body=data.body,
        body_html=render_markdown(data.body),
        ai_meta=ai_meta,
        created_at=now,
    )
    session.add(message)
    session.flush()
    for attachment in attachments:
        attachment.message_id = message.id
    _record(
        session,
        ctx,
        ticket,
        "message_added",
        meta={"message_id": message.id, "author_type": author_type, "visibility": data.visibility},
    )
    _after_message(session, ctx, ticket, author_type, data.visibility, now)
    ticket.updated_at = now
    session.flush()
    if author_type == "customer":
        _request_ai(session, ctx, ticket, message.id)
    session.refresh(message, ["attachments"])
    return message


@hooks.dispatching
def send_message(
    session: Session,
    ctx: Context,
    ticket_id: int,
    data: MessageCreate,
    *,
    then_status: Status | None = None,
    ai_meta: dict[str, Any] | None = None,
) -> Message:
    """Add a message and then move the ticket to `then_status` ("send and resolve").

    The transition is checked before the message is written, so an illegal target leaves
    nothing behind."""
    if then_status is not None:
        check_transition(get_ticket(session, ctx, ticket_id), then_status)
    message = add_message(session, ctx, ticket_id, data, ai_meta=ai_meta)
    if then_status is not None:
        ticket = get_ticket(session, ctx, ticket_id, for_update=True)
        change_status(session, ctx, ticket, then_status, reason="sent_with_reply")
        session.flush()
    return message


def _after_message(
    session: Session, ctx: Context, ticket: Ticket, author_type: str, visibility: str, now: datetime
) -> None:
    """Status effects of a message: customer replies reopen or resume, first replies are stamped."""
    status = Status(ticket.status)
    if author_type == "customer":
        if status in (Status.resolved, Status.closed) or status == Status.waiting_customer:
            change_status(session, ctx, ticket, Status.in_progress, reason="customer_reply")
        return
    if (
        visibility == "public"
        and author_type in ("agent", "ai")
        and ticket.first_response_at is None
    ):
        ticket.first_response_at = now
        _record(session, ctx, ticket, "first_response", meta={"author_type": author_type})


def _claim_attachments(session: Session, ctx: Context, ids: Sequence[int]) -> list[Attachment]:
    if not ids:
        return []
    rows = list(session.scalars(scoped(ctx, Attachment).where(Attachment.id.in_(ids))))
    found = {row.id for row in rows}
    bad = [i for i in ids if i not in found]
    bad += [row.id for row in rows if row.message_id is not None]
    if not ctx.is_staff:
        bad += [row.id for row in rows if row.uploaded_by_user_id != ctx.user_id]
    if bad:
        raise ValidationFailed(
            "Unknown or already used attachments",
            details=[{"field": "attachment_ids", "message": f"cannot attach {sorted(set(bad))}"}],
        )
    return rows


@hooks.dispatching
def rate_ticket(session: Session, ctx: Context, ticket_id: int, data: SatisfactionCreate) -> Ticket:
    """The requester rates a resolved or closed ticket (1-5); a later rating replaces the first."""
    ticket = get_ticket(session, ctx, ticket_id, for_update=True)
    if ctx.role != Role.customer or ticket.requester_id != ctx.contact_id:
        # Colleagues may see a shared request (listing.visible) but only its requester rates it.
        raise PermissionDenied("Only the requester can rate a ticket")
    if ticket.status not in (Status.resolved.value, Status.closed.value):
        raise Conflict(
            "Only resolved or closed tickets can be rated",
            details={
                "status": ticket.status,
                "allowed": [Status.resolved.value, Status.closed.value],
            },
        )
    _record(
        session,
        ctx,
        ticket,
        "csat_received",
        field="csat_score",
        old=ticket.csat_score,
        new=data.score,
        meta={"comment": data.comment} if data.comment else None,
    )
    ticket.csat_score = data.score
    ticket.csat_comment = data.comment
    ticket.updated_at = utcnow()
    session.flush()
    return ticket


@hooks.dispatching
def merge_tickets(session: Session, ctx: Context, source_id: int, target_id: int) -> Ticket:
    """Merge a duplicate into another ticket: its messages move, it is closed and linked."""
    ctx.require_staff()
    if source_id == target_id:
        raise ValidationFailed(
            "Cannot merge a ticket into itself",
            details=[{"field": "into_ticket_id", "message": "must differ from the ticket"}],
        )
    # Lock in id order so two opposite merges cannot deadlock.
    first, second = sorted((source_id, target_id))
    locked = {t: get_ticket(session, ctx, t, for_update=True) for t in (first, second)}
    source, target = locked[source_id], locked[target_id]
    if source.merged_into_id is not None:
        raise Conflict(
            f"Ticket {source.id} is already merged",
            details={"merged_into_id": source.merged_into_id},
        )
    if target.merged_into_id is not None:
        raise Conflict(
            f"Ticket {target.id} was merged into {target.merged_into_id}; merge into that one",
            details={"merged_into_id": target.merged_into_id},
        )
    # Another requester must not read this conversation on the target's public thread, so its
    # messages arrive as internal notes when the requesters differ.
    private = source.requester_id != target.requester_id
    values: dict[str, Any] = {"ticket_id": target.id}
    if private:
        values["visibility"] = "internal"
    moved = (
        session.execute(
            update(Message)
            .where(Message.workspace_id == ctx.workspace_id, Message.ticket_id == source.id)
            .values(**values)
            .returning(Message.id)
        )
        .scalars()
        .all()
    )
    now = utcnow()
    old_status = source.status
    source.merged_into_id = target.id
    source.status = Status.closed.value
    source.closed_at = now
    source.updated_at = now
    target.updated_at = now
    _record(
        session,
        ctx,
        source,
        "merged",
        field="status",
        old=old_status,
        new=Status.closed.value,
        meta={"into_ticket_id": target.id, "moved_message_ids": list(moved)},
    )
    _record(
        session,
        ctx,
        target,
        "merged",
        meta={
            "from_ticket_id": source.id,
            "from_number": source.number,
            "moved_message_ids": list(moved),
            "made_internal": private,
        },
    )
    session.flush()
    return target


def record_event(
    session: Session,
    ctx: Context,
    ticket: Ticket,
    kind: str,
    *,
    meta: dict[str, Any],
    field: str | None = None,
    old: Any = None,
    new: Any = None,
) -> TicketEvent:
    """An event another domain observed or caused on the ticket (`sla_breached`, `escalated`,
    `ai_decided`, ...; see `tickets.annotations`).

    Goes through the same write path as every ticket change, so hooks see it too.
    """
    return _record(session, ctx, ticket, kind, field=field, old=old, new=new, meta=meta)
