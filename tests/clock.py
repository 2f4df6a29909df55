"""deskpilot's clock held still for a test; the test moves it explicitly."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from deskpilot.core.clock import set_clock

START = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


@dataclass
class FrozenClock:
    now: datetime

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def frozen_clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(START)
    set_clock(lambda: frozen.now)
    yield frozen
    set_clock(None)
