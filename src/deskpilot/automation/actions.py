"""Rule actions: validated shapes and how each one is carried out, always through services.

Every action runs in its own savepoint: one that fails (an illegal status change, a team that was
deleted since the rule was written) is rolled back and recorded on the run, and the rule's other
actions still run. Nothing here sends anything: `webhook` enqueues a job that POSTs after the
transaction commits, and `notify` records an internal note until outgoing email exists.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StringConstraints, model_validator
from sqlalchemy.orm import Session

from deskpilot.core.clock import utcnow
from deskpilot.core.context import Context
from deskpilot.core.errors import Conflict, DomainError, IllegalTransition
from deskpilot.core.ids import MAX_DB_ID
from deskpilot.escalations import service as escalations_service
from deskpilot.jobs import queue
from deskpilot.routing import assign
from deskpilot.tickets import service as tickets_service
from deskpilot.tickets.lifecycle import (
    Impact,
    Priority,
    Status,
    TicketType,
    allowed_targets,
    can_transition,
)
from deskpilot.tickets.models import Ticket
from deskpilot.tickets.schemas import MAX_TAGS, MessageCreate, TagStr, TicketUpdate
from deskpilot.webhooks.events import ticket_summary

WEBHOOK_JOB = "automation.webhook"
MAX_ACTIONS = 20
RowId = Annotated[int, Field(ge=1, le=MAX_DB_ID)]
Body = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)]
Tags = Annotated[list[TagStr], Field(min_length=1, max_length=MAX_TAGS)]


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SetField(_Action):
    type: Literal["set_field"]
    field: Literal["priority", "status", "type", "category", "impact"]
    value: str | None

    @model_validator(mode="after")
    def _check_value(self) -> SetField:
        choices: dict[str, list[str]] = {
            "priority": [p.value for p in Priority],
            "status": [s.value for s in Status],
            "impact": [i.value for i in Impact],
            "type": [t.value for t in TicketType],
        }
        if self.field in choices:
            allowed = choices[self.field]
            nullable = self.field == "type"
            if not (self.value in allowed or (nullable and self.value is None)):
                raise ValueError(f"{self.field} must be one of {allowed}")
        elif self.value is not None and len(self.value) > 120:
            raise ValueError("category is at most 120 characters")
        return self


class AssignTeam(_Action):
    type: Literal["assign_team"]
    team_id: RowId


class AssignAgent(_Action):
    type: Literal["assign_agent"]
    user_id: RowId


class AddTags(_Action):
    type: Literal["add_tags"]
    tags: Tags


class RemoveTags(_Action):
    type: Literal["remove_tags"]
    tags: Tags


class AddNote(_Action):
    """An internal note on the ticket, written by the system."""

    type: Literal["add_note"]
    body: Body


class Reply(_Action):
    """A public message to the requester, written by the system (e.g. "Just checking in")."""

    type: Literal["reply"]
    body: Body


class Notify(_Action):
    """Tell someone about the ticket. Recorded as an internal note for now (no outgoing email)."""

    type: Literal["notify"]
    to: Literal["assignee", "team", "requester"]
    template: Body | None = None


class Webhook(_Action):
    type: Literal["webhook"]
    url: AnyHttpUrl = Field(description="http or https only")

    @model_validator(mode="after")
    def _check_url(self) -> Webhook:
        if self.url.scheme not in ("http", "https") or len(str(self.url)) > 2000:
            raise ValueError("webhook url must be http(s) and at most 2000 characters")
        return self


class Escalate(_Action):
    type: Literal["escalate"]
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None


class Close(_Action):
    type: Literal["close"]


Action = Annotated[
    SetField
    | AssignTeam
    | AssignAgent
    | AddTags
    | RemoveTags
    | AddNote
    | Reply
    | Notify
    | Webhook
    | Escalate
    | Close,
    Field(discriminator="type"),
]

# Public lists for editors (the admin pages), read off the models so they cannot drift apart.
ACTION_MODELS: tuple[type[BaseModel], ...] = get_args(get_args(Action)[0])
ACTION_TYPES: tuple[str, ...] = tuple(
    get_args(model.model_fields["type"].annotation)[0] for model in ACTION_MODELS
)
"""Every action `type`, in the order of the `Action` union."""
SET_FIELD_NAMES: tuple[str, ...] = get_args(SetField.model_fields["field"].annotation)
"""Ticket fields `set_field` can change."""
NOTIFY_TARGETS: tuple[str, ...] = get_args(Notify.model_fields["to"].annotation)
"""Whom `notify` can tell."""


@dataclass(frozen=True)
class RuleInfo:
    """What the actions may say about the rule that runs them (notes, webhook payloads)."""

    rule_id: int
    name: str
    trigger: str
    event_key: str


def describe(action: Action) -> dict[str, Any]:
    return action.model_dump(mode="json")


def apply_actions(
    session: Session, ctx: Context, ticket: Ticket, actions: Sequence[Action], rule: RuleInfo
) -> tuple[list[dict[str, Any]], str | None]:
    """Run the actions in order; returns what each did and the first error (or None)."""
    applied: list[dict[str, Any]] = []
    first_error: str | None = None
    for action in actions:
        entry = describe(action)
        try:
            with session.begin_nested():
                outcome = _apply(session, ctx, ticket, action, rule)
                session.flush()
        except DomainError as exc:
            entry.update(ok=False, error=f"{exc.code}: {exc.message}")
            first_error = first_error or f"{action.type}: {exc.message}"
            session.expire(ticket)  # what the savepoint undid must be read again
        else:
            entry.update(ok=True, **({"result": outcome} if outcome else {}))
        applied.append(entry)
    return applied, first_error


def _apply(
    session: Session, ctx: Context, ticket: Ticket, action: Action, rule: RuleInfo
) -> dict[str, Any] | None:
    if isinstance(action, SetField):
        if action.field == "status":
            _move(session, ctx, ticket, Status(str(action.value)))
            return None
        _update(session, ctx, ticket, TicketUpdate.model_validate({action.field: action.value}))
    elif isinstance(action, AssignTeam):
        _update(session, ctx, ticket, TicketUpdate(team_id=action.team_id))
    elif isinstance(action, AssignAgent):
        if ticket.assignee_id != action.user_id:
            # Automatic assignment never goes above an agent's capacity (or to one away).
            if not assign.has_room(session, ctx, action.user_id):
                raise Conflict(f"Agent {action.user_id} is not online or is at capacity")
            _update(session, ctx, ticket, TicketUpdate(assignee_id=action.user_id))
    elif isinstance(action, AddTags):
        wanted = sorted({*ticket.tags, *(t.lower() for t in action.tags)})
        if set(wanted) != set(ticket.tags):
            _update(session, ctx, ticket, TicketUpdate(tags=wanted))
    elif isinstance(action, RemoveTags):
        drop = {t.lower() for t in action.tags}
        kept = [t for t in ticket.tags if t not in drop]
        if len(kept) != len(ticket.tags):
            _update(session, ctx, ticket, TicketUpdate(tags=kept))
    elif isinstance(action, AddNote | Reply):
        visibility = "internal" if isinstance(action, AddNote) else "public"
        message = tickets_service.add_message(
            session, ctx, ticket.id, MessageCreate(body=action.body, visibility=visibility)
        )
        return {"message_id": message.id}
    elif isinstance(action, Notify):
        return _notify(session, ctx, ticket, action, rule)
    elif isinstance(action, Webhook):
        return _enqueue_webhook(session, ctx, ticket, action, rule)
    elif isinstance(action, Escalate):
        escalation = escalations_service.escalate_ticket(
            session, ctx, ticket.id, reason="policy", note=action.reason or f"Rule: {rule.name}"
        )
        return {"escalation_id": escalation.id}
    elif isinstance(action, Close):
        _close(session, ctx, ticket)
    return None


def _update(session: Session, ctx: Context, ticket: Ticket, data: TicketUpdate) -> None:
    tickets_service.update_ticket(session, ctx, ticket.id, data)


def _move(session: Session, ctx: Context, ticket: Ticket, target: Status) -> None:
    """A legal transition or a recorded error; never a status the lifecycle forbids."""
    locked = tickets_service.get_ticket(session, ctx, ticket.id, for_update=True)
    current = Status(locked.status)
    if current != target and not can_transition(current, target):
        raise _illegal(current, target)
    tickets_service.change_status(session, ctx, locked, target, reason="automation")


def _close(session: Session, ctx: Context, ticket: Ticket) -> None:
    """Close by the legal path: an open ticket is resolved first, then closed."""
    locked = tickets_service.get_ticket(session, ctx, ticket.id, for_update=True)
    if Status(locked.status) != Status.resolved and Status(locked.status) != Status.closed:
        _move(session, ctx, locked, Status.resolved)
    _move(session, ctx, locked, Status.closed)


def _illegal(current: Status, target: Status) -> DomainError:
    return IllegalTransition(
        f"Cannot move a ticket from {current.value} to {target.value}",
        details={"from": current.value, "to": target.value, "allowed": allowed_targets(current)},
    )


def _notify(
    session: Session, ctx: Context, ticket: Ticket, action: Notify, rule: RuleInfo
) -> dict[str, Any]:
    """Record who should hear about this ticket, as an internal note (email comes later)."""
    recipient: dict[str, Any] = {"to": action.to}
    if action.to == "assignee":
        recipient["user_id"] = ticket.assignee_id
    elif action.to == "team":
        recipient["team_id"] = ticket.team_id
    else:
        recipient["email"] = ticket.requester.email if ticket.requester else None
    if all(v is None for k, v in recipient.items() if k != "to"):
        return {**recipient, "skipped": f"the ticket has no {action.to}"}
    text = action.template or f"Rule {rule.name!r} matched this ticket."
    who = ", ".join(f"{k}={v}" for k, v in recipient.items() if k != "to")
    body = f"Automation notification for the {action.to} ({who}): {text}"
    message = tickets_service.add_message(
        session, ctx, ticket.id, MessageCreate(body=body, visibility="internal")
    )
    return {**recipient, "message_id": message.id}


def webhook_payload(ticket: Ticket, rule: RuleInfo) -> dict[str, Any]:
    return {
        "event": "automation.rule_matched",
        "rule": {"id": rule.rule_id, "name": rule.name, "trigger": rule.trigger},
        "event_key": rule.event_key,
        "sent_at": utcnow().isoformat(),
        # The same ticket shape as the signed outbound webhooks (docs/webhooks.md).
        "ticket": ticket_summary(ticket),
    }


def _enqueue_webhook(
    session: Session, ctx: Context, ticket: Ticket, action: Webhook, rule: RuleInfo
) -> dict[str, Any]:
    delivery_id = str(uuid.uuid4())
    job = queue.enqueue(
        session,
        WEBHOOK_JOB,
        workspace_id=ctx.workspace_id,
        url=str(action.url),
        payload=webhook_payload(ticket, rule),
        delivery_id=delivery_id,
    )
    return {"job_id": job.id, "delivery_id": delivery_id}
