"""Automation tests: a frozen clock and a builder for rules written through the service."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from deskpilot.automation import service
from deskpilot.automation.models import AutomationRule
from deskpilot.automation.schemas import RuleCreate
from deskpilot.core.context import Context


def make_rule(session: Session, ctx: Context, **fields: Any) -> AutomationRule:
    """A rule through the service (validated like the API), committed."""
    data: dict[str, Any] = {"name": "rule", "trigger": "ticket_created"}
    data.update(fields)
    rule, _ = service.create_rule(session, ctx, RuleCreate.model_validate(data))
    session.commit()
    return rule
