"""The rules a new workspace starts with, installed on request and never twice.

`install_defaults` adds each default rule whose name the workspace does not use yet, so calling
it again (or after an admin edited or disabled a default) changes nothing. The outage rules
assign the team named "On-call" (any case) when the workspace has one; without it they only raise
the priority, and the skipped action is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from deskpilot.automation import service
from deskpilot.automation.models import AutomationRule
from deskpilot.automation.schemas import RuleCreate
from deskpilot.core.context import Context
from deskpilot.db.scoped import scoped
from deskpilot.workspaces import service as workspaces_service

ON_CALL_TEAM = "on-call"
ASSIGN_ON_CALL = "assign_on_call"
"""Placeholder action, replaced by `assign_team` with the on-call team's id (or dropped)."""
REMINDER = (
    "Just checking in: are you still having this problem? Reply to this message and we will pick "
    "it up again. If we do not hear back, we will close this ticket in a few days."
)
AUTO_CLOSE_NOTE = "Closed automatically: no reply from the requester for 7 days."
STALE_TAG = "stale"
SITE_DOWN_TAG = "site-down"
"""Marks an outage the rules already handled: an agent who lowers the priority is not overruled."""

_SITE_DOWN: list[dict[str, Any]] = [
    {"field": "impact", "op": "eq", "value": "site_down"},
    {
        "match": "any",
        "conditions": [
            {"field": "category", "op": "eq", "value": "outage"},
            {"field": "type", "op": "eq", "value": "bug"},
        ],
    },
    {"field": "tags", "op": "not_contains", "value": SITE_DOWN_TAG},
]
_URGENT = [
    {"type": "set_field", "field": "priority", "value": "urgent"},
    {"type": ASSIGN_ON_CALL},
    {"type": "add_tags", "tags": [SITE_DOWN_TAG]},
]

DEFAULT_RULES: list[dict[str, Any]] = [
    {
        "name": "Outage, site down: urgent + on-call (new tickets)",
        "description": "An outage or bug report that takes the site down is urgent.",
        "trigger": "ticket_created",
        "conditions": _SITE_DOWN,
        "actions": _URGENT,
    },
    {
        "name": "Outage, site down: urgent + on-call (updated tickets)",
        "description": "Same as for new tickets, once triage or an agent sets the fields.",
        "trigger": "ticket_updated",
        "conditions": _SITE_DOWN,
        "actions": _URGENT,
    },
    {
        "name": "Auto-close resolved tickets after 7 days",
        "trigger": "time_based",
        "conditions": [
            {"field": "status", "op": "eq", "value": "resolved"},
            {"field": "hours_in_status", "op": "gte", "value": 168},
        ],
        "actions": [{"type": "close"}],
    },
    {
        "name": "Close tickets waiting on the customer for 7 days",
        "description": "Runs before the reminder, so a ticket that waited this long is closed, "
        "not reminded.",
        "trigger": "time_based",
        "conditions": [
            {"field": "status", "op": "eq", "value": "waiting_customer"},
            {"field": "hours_in_status", "op": "gte", "value": 168},
        ],
        "actions": [{"type": "add_note", "body": AUTO_CLOSE_NOTE}, {"type": "close"}],
        "stop_processing": True,
    },
    {
        "name": "Remind customers after 3 days of waiting",
        "trigger": "time_based",
        "conditions": [
            {"field": "status", "op": "eq", "value": "waiting_customer"},
            {"field": "hours_in_status", "op": "gte", "value": 72},
        ],
        "actions": [{"type": "reply", "body": REMINDER}],
    },
    {
        "name": "Flag tickets untouched for 48 hours",
        "trigger": "time_based",
        "conditions": [
            {"field": "status", "op": "in", "value": ["new", "in_progress"]},
            {"field": "hours_since_update", "op": "gte", "value": 48},
            {"field": "tags", "op": "not_contains", "value": STALE_TAG},
        ],
        "actions": [{"type": "add_tags", "tags": [STALE_TAG]}],
    },
]


@dataclass
class Installed:
    created: list[AutomationRule] = field(default_factory=list)
    existing: list[AutomationRule] = field(default_factory=list)
    skipped_actions: list[str] = field(default_factory=list)


def install_defaults(session: Session, ctx: Context) -> Installed:
    """Add the default rules the workspace lacks (matched by name); idempotent."""
    ctx.require_admin()
    by_name = {r.name: r for r in session.scalars(scoped(ctx, AutomationRule))}
    on_call = find_team_id(session, ctx, ON_CALL_TEAM)
    result = Installed()
    for spec in DEFAULT_RULES:
        if spec["name"] in by_name:
            result.existing.append(by_name[spec["name"]])
            continue
        actions = []
        for action in spec["actions"]:
            if action["type"] != ASSIGN_ON_CALL:
                actions.append(action)
            elif on_call is not None:
                actions.append({"type": "assign_team", "team_id": on_call})
            else:
                result.skipped_actions.append(f"{spec['name']}: no team named 'On-call'")
        data = RuleCreate.model_validate({**spec, "actions": actions})
        rule, _ = service.create_rule(session, ctx, data)
        result.created.append(rule)
    return result


def find_team_id(session: Session, ctx: Context, name: str) -> int | None:
    cursor: str | None = None
    while True:
        teams, cursor = workspaces_service.list_teams(session, ctx, limit=100, cursor=cursor)
        for team in teams:
            if team.name.strip().casefold() == name.casefold():
                return team.id
        if cursor is None:
            return None
