"""SLA tests: a frozen, movable clock (Monday 2025-03-03 09:00 UTC) and policy builders."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from deskpilot.core.clock import set_clock


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
