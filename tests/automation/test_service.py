"""Automation service: where a rule lands when its trigger changes, and moving rules in order."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from deskpilot.automation import service
from deskpilot.automation.models import AutomationRule
from deskpilot.automation.schemas import RuleUpdate
from deskpilot.core.errors import NotFound, PermissionDenied, ValidationFailed
from tests.automation.conftest import make_rule
from tests.factories import Personas

TAG: dict[str, Any] = {"actions": [{"type": "add_tags", "tags": ["x"]}]}


def order(session: Session, personas: Personas, trigger: str) -> list[tuple[str, int]]:
    rules = service.list_rules(session, personas.acme_admin.ctx, trigger=trigger)
    return [(r.name, r.position) for r in rules]


def rules(session: Session, personas: Personas, trigger: str, *names: str) -> list[AutomationRule]:
    return [
        make_rule(session, personas.acme_admin.ctx, name=name, trigger=trigger, **TAG)
        for name in names
    ]


def test_a_rule_moved_to_another_trigger_goes_after_its_last_rule(
    session: Session, personas: Personas
) -> None:
    ctx = personas.acme_admin.ctx
    rules(session, personas, "ticket_updated", "U1", "U2")
    first, _ = rules(session, personas, "ticket_created", "C1", "C2")
    service.update_rule(session, ctx, first.id, RuleUpdate(trigger="ticket_updated"))
    assert order(session, personas, "ticket_updated") == [("U1", 0), ("U2", 1), ("C1", 2)]
    # An explicit position wins; the same trigger again keeps the position.
    service.update_rule(session, ctx, first.id, RuleUpdate(trigger="time_based", position=7))
    assert order(session, personas, "time_based") == [("C1", 7)]
    service.update_rule(session, ctx, first.id, RuleUpdate(trigger="time_based", name="Same"))
    assert order(session, personas, "time_based") == [("Same", 7)]
    # The first rule of an empty trigger is at 0.
    service.update_rule(session, ctx, first.id, RuleUpdate(trigger="message_received"))
    assert order(session, personas, "message_received") == [("Same", 0)]


def test_move_swaps_with_the_neighbour_and_renumbers_the_trigger(
    session: Session, personas: Personas
) -> None:
    ctx = personas.acme_admin.ctx
    a, b, c = rules(session, personas, "ticket_created", "A", "B", "C")
    (other,) = rules(session, personas, "ticket_updated", "Other")
    # Positions after API edits may repeat or have gaps: the order is position, then id.
    for rule, position in ((a, 5), (b, 5), (c, 9)):
        service.update_rule(session, ctx, rule.id, RuleUpdate(position=position))
    moved = service.move_rule(session, ctx, c.id, "up")
    assert moved.id == c.id
    assert order(session, personas, "ticket_created") == [("A", 0), ("C", 1), ("B", 2)]
    service.move_rule(session, ctx, a.id, "down")
    assert order(session, personas, "ticket_created") == [("C", 0), ("A", 1), ("B", 2)]
    # The first going up and the last going down change nothing.
    service.move_rule(session, ctx, c.id, "up")
    service.move_rule(session, ctx, b.id, "down")
    assert order(session, personas, "ticket_created") == [("C", 0), ("A", 1), ("B", 2)]
    assert order(session, personas, "ticket_updated") == [("Other", other.position)]


def test_move_is_for_admins_of_the_workspace_with_a_known_direction(
    session: Session, personas: Personas
) -> None:
    (rule,) = rules(session, personas, "ticket_created", "A")
    with pytest.raises(PermissionDenied):
        service.move_rule(session, personas.ann.ctx, rule.id, "up")
    with pytest.raises(NotFound):
        service.move_rule(session, personas.globex_owner.ctx, rule.id, "up")
    with pytest.raises(ValidationFailed):
        service.move_rule(session, personas.acme_admin.ctx, rule.id, "sideways")  # type: ignore[arg-type]
