"""Reporting periods and filters: which days, in which time zone, for which team/agent/channel.

A workspace reports in the time zone of its default business-hours calendar (UTC when it has
none), so "Monday" on a dashboard is Monday where the support team works. A day range
[start, end] (both inclusive, local dates) covers the instants from local midnight of `start` to
local midnight after `end`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from deskpilot.core.clock import utcnow
from deskpilot.core.context import Context
from deskpilot.core.errors import ValidationFailed
from deskpilot.sla import service as sla_service
from deskpilot.sla.calendar import BusinessCalendar, NeverOpen

DEFAULT_DAYS = 30
MAX_DAYS = 731
"""Two years: the longest range one request may ask for."""


@dataclass(frozen=True)
class Reporting:
    """How a workspace's instants become days, and its business-hours calendar (if any)."""

    timezone: str = "UTC"
    calendar: BusinessCalendar | None = None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def day_of(self, instant: datetime) -> date:
        return instant.astimezone(self.zone).date()

    def start_of(self, day: date) -> datetime:
        """Local midnight starting `day`, as a UTC instant."""
        return datetime.combine(day, time(0), tzinfo=self.zone).astimezone(UTC)

    def window(self, start: date, end: date) -> tuple[datetime, datetime]:
        """[local midnight of start, local midnight after end) in UTC."""
        return self.start_of(start), self.start_of(end + timedelta(days=1))

    def today(self) -> date:
        return self.day_of(utcnow())


def reporting_for(session: Session, ctx: Context) -> Reporting:
    hours = sla_service.default_business_hours(session, ctx)
    if hours is None:
        return Reporting()
    try:
        calendar = BusinessCalendar.from_model(hours)
    except (NeverOpen, ValueError):
        return Reporting(timezone=hours.timezone if _known_zone(hours.timezone) else "UTC")
    return Reporting(timezone=hours.timezone, calendar=calendar)


def _known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ValueError, KeyError):
        return False
    return True


@dataclass(frozen=True)
class Filters:
    """What a dashboard or API call looks at: a day range plus optional team, agent, channel."""

    start: date
    end: date
    team_id: int | None = None
    agent_id: int | None = None
    channel: str | None = None

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    def query(self) -> dict[str, str]:
        """The filters as URL query parameters (for links and CSV exports)."""
        params = {"from": self.start.isoformat(), "to": self.end.isoformat()}
        if self.team_id is not None:
            params["team"] = str(self.team_id)
        if self.agent_id is not None:
            params["agent"] = str(self.agent_id)
        if self.channel:
            params["channel"] = self.channel
        return params


def make_filters(
    reporting: Reporting,
    *,
    start: date | None = None,
    end: date | None = None,
    team_id: int | None = None,
    agent_id: int | None = None,
    channel: str | None = None,
) -> Filters:
    """Defaults: the last 30 days up to today (local). Raises ValidationFailed on a bad range."""
    end = end or reporting.today()
    start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise ValidationFailed(
            "The start date is after the end date",
            details=[{"field": "from", "message": "must be on or before 'to'"}],
        )
    if (end - start).days + 1 > MAX_DAYS:
        raise ValidationFailed(
            f"A range may span at most {MAX_DAYS} days",
            details=[{"field": "from", "message": f"at most {MAX_DAYS} days before 'to'"}],
        )
    return Filters(start, end, team_id, agent_id, channel or None)
