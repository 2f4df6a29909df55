"""Builders shared by the SLA tests."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from deskpilot.core.context import Context
from deskpilot.sla import service
from deskpilot.sla.models import SlaPolicy, TicketSla
from deskpilot.sla.schemas import BusinessHoursCreate, SlaPolicyCreate
from deskpilot.tickets.models import TicketEvent


def make_policy(session: Session, ctx: Context, **fields: Any) -> SlaPolicy:
    data: dict[str, Any] = {
        "name": "Standard",
        "first_response_minutes": 60,
        "next_response_minutes": 30,
        "resolution_minutes": 240,
        "at_risk_percent": 50,
    }
    data.update(fields)
    policy, _ = service.create_policy(session, ctx, SlaPolicyCreate.model_validate(data))
    return policy


def make_hours(session: Session, ctx: Context, **fields: Any) -> int:
    data: dict[str, Any] = {
        "name": "Office",
        "timezone": "Europe/Berlin",
        "schedule": {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
    }
    data.update(fields)
    hours, _ = service.create_business_hours(session, ctx, BusinessHoursCreate.model_validate(data))
    session.flush()
    return hours.id


def clocks_of(session: Session, ticket_id: int) -> dict[tuple[str, int], TicketSla]:
    session.expire_all()
    rows = session.scalars(select(TicketSla).where(TicketSla.ticket_id == ticket_id))
    return {(c.metric, c.cycle): c for c in rows}


def event_kinds(session: Session, ticket_id: int, prefix: str = "sla_") -> list[str]:
    rows = session.scalars(
        select(TicketEvent.kind)
        .where(TicketEvent.ticket_id == ticket_id, TicketEvent.kind.startswith(prefix))
        .order_by(TicketEvent.id)
    )
    return list(rows)


class _FormReader(HTMLParser):
    """What a browser would post for one form, saved unchanged: inputs, ticked boxes, the selected
    option of each select (else its first), textareas."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id = form_id
        self.inside = False
        self.fields: list[tuple[str, str]] = []
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []
        self._textarea: str | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("id") == self.form_id:
            self.inside = True
        if not self.inside or "disabled" in a:
            return
        if tag == "input" and a.get("name"):
            if a.get("type") not in ("checkbox", "radio") or "checked" in a:
                self.fields.append((a["name"], a.get("value", "")))
        elif tag == "select":
            self._select, self._options = a.get("name"), []
        elif tag == "option" and self._select is not None:
            self._options.append((a.get("value", ""), "selected" in a))
        elif tag == "textarea":
            self._textarea, self._text = a.get("name"), ""

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select" and self._select is not None:
            chosen = [v for v, selected in self._options if selected] or [self._options[0][0]]
            self.fields.append((self._select, chosen[-1]))
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            # A browser drops one newline right after <textarea>.
            self.fields.append((self._textarea, self._text.removeprefix("\n")))
            self._textarea = None


def form_as_shown(html: str, form_id: str) -> dict[str, list[str]]:
    """What a browser posts when `form_id` is submitted as the page shows it, by field name."""
    reader = _FormReader(form_id)
    reader.feed(html)
    reader.close()
    assert reader.fields, f"no form {form_id!r} on the page"
    posted: dict[str, list[str]] = {}
    for name, value in reader.fields:
        posted.setdefault(name, []).append(value)
    return posted
