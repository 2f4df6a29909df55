"""Audit events as sentences people can read ("Ann changed priority from normal to high").

Pure functions: the caller passes the names and ticket numbers it already loaded in batches.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deskpilot.tickets.models import TicketEvent

FIELD_LABELS = {
    "subject": "subject",
    "priority": "priority",
    "impact": "impact",
    "type": "type",
    "category": "category",
    "custom_fields": "custom fields",
}


def _text(value: Any) -> str:
    if value is None or value == "":
        return "none"
    return str(value).replace("_", " ")


def actor_name(event: TicketEvent, names: Mapping[int, str], requester: str) -> str:
    if event.actor_type == "ai":
        return "AI"
    if event.actor_type == "system":
        return "System"
    if event.actor_user_id is not None and event.actor_user_id in names:
        return names[event.actor_user_id]
    return requester or "Customer"


def describe(
    event: TicketEvent,
    *,
    names: Mapping[int, str],
    team_names: Mapping[int, str],
    ticket_numbers: Mapping[int, int],
) -> str:
    """One line for the event timeline; unknown kinds fall back to their name."""
    meta = event.meta or {}
    kind = event.kind
    if kind == "created":
        return f"created the ticket ({_text(meta.get('channel'))})"
    if kind in ("status_changed", "reopened", "resolved", "closed"):
        verb = {"reopened": "reopened the ticket", "resolved": "resolved the ticket"}.get(
            kind, "changed status"
        )
        if kind == "closed":
            verb = "closed the ticket"
        reason = f" ({_text(meta['reason'])})" if meta.get("reason") else ""
        return f"{verb}: {_text(event.old_value)} → {_text(event.new_value)}{reason}"
    if kind == "assigned":
        if event.new_value is None:
            return "unassigned the ticket"
        return f"assigned the ticket to {names.get(int(event.new_value), 'a former member')}"
    if kind == "team_changed":
        if event.new_value is None:
            return "removed the team"
        return f"moved the ticket to team {team_names.get(int(event.new_value), 'unknown')}"
    if kind == "linked":
        parent = ticket_numbers.get(int(event.new_value)) if event.new_value else None
        return f"linked the ticket to #{parent}" if parent else "changed the parent ticket"
    if kind == "tagged":
        parts = []
        if meta.get("added"):
            parts.append("added tags " + ", ".join(meta["added"]))
        if meta.get("removed"):
            parts.append("removed tags " + ", ".join(meta["removed"]))
        return "; ".join(parts) or "changed tags"
    if kind in ("priority_changed", "type_changed", "category_changed", "field_changed"):
        label = FIELD_LABELS.get(event.field or "", _text(event.field))
        source = " (AI prediction)" if meta.get("source") == "ai_prediction" else ""
        if event.field == "custom_fields":
            return f"changed custom fields{source}"
        return f"changed {label}: {_text(event.old_value)} → {_text(event.new_value)}{source}"
    if kind == "message_added":
        author = meta.get("author_type")
        if meta.get("visibility") == "internal":
            return "added an internal note"
        return "replied" if author in ("agent", "ai") else "wrote a message"
    if kind == "first_response":
        return "sent the first response"
    if kind == "csat_received":
        return f"rated the ticket {event.new_value}/5"
    if kind == "merged":
        if "into_ticket_id" in meta:
            into = ticket_numbers.get(int(meta["into_ticket_id"]))
            return f"merged this ticket into #{into}" if into else "merged this ticket"
        return f"merged ticket #{meta.get('from_number', '?')} into this one"
    if kind == "ai_decided":
        confidence = meta.get("confidence")
        shown = f" (confidence {float(confidence):.2f})" if confidence is not None else ""
        return f"decided: {_text(event.new_value)}{shown}"
    if kind == "escalated":
        return f"escalated to the team: {_text(meta.get('reason'))}"
    if kind in ("sla_breached", "sla_at_risk"):
        state = "breached" if kind == "sla_breached" else "is at risk"
        return f"SLA {_text(meta.get('metric'))} target {state}"
    return _text(kind)


def referenced_ticket_ids(events: list[TicketEvent]) -> set[int]:
    """Ticket ids the sentences mention (parents, merge targets), to load their numbers once."""
    ids: set[int] = set()
    for event in events:
        if event.kind == "linked" and event.new_value:
            ids.add(int(event.new_value))
        if event.kind == "merged" and (event.meta or {}).get("into_ticket_id"):
            ids.add(int(event.meta["into_ticket_id"]))
    return ids
