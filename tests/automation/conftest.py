"""Automation tests: a frozen clock and a builder for rules written through the service."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from deskpilot.automation import service
from deskpilot.automation.models import AutomationRule
from deskpilot.automation.schemas import RuleCreate
from deskpilot.core.clock import set_clock
from deskpilot.core.context import Context


@dataclass
class FrozenClock:
    now: datetime

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(datetime(2025, 3, 3, 9, 0, tzinfo=UTC))
    set_clock(lambda: frozen.now)
    yield frozen
    set_clock(None)


def make_rule(session: Session, ctx: Context, **fields: Any) -> AutomationRule:
    """A rule through the service (validated like the API), committed."""
    data: dict[str, Any] = {"name": "rule", "trigger": "ticket_created"}
    data.update(fields)
    rule, _ = service.create_rule(session, ctx, RuleCreate.model_validate(data))
    session.commit()
    return rule
