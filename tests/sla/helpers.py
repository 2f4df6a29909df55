"""Builders shared by the SLA tests."""

from __future__ import annotations

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
