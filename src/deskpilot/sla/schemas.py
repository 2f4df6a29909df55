"""Request and response shapes of the business-hours, SLA-policy and ticket-SLA API."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from deskpilot.core.ids import MAX_DB_ID
from deskpilot.sla.calendar import WEEKDAYS, parse_schedule
from deskpilot.tickets.lifecycle import Channel, Priority, TicketType

RowId = Annotated[int, Field(ge=1, le=MAX_DB_ID)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
TimeZoneName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
WallTime = Annotated[str, StringConstraints(pattern=r"^\d{2}:\d{2}$")]
Interval = Annotated[list[WallTime], Field(min_length=2, max_length=2)]
DayIntervals = Annotated[list[Interval], Field(max_length=12)]
MAX_HOLIDAYS = 1000
TargetMinutes = Annotated[int, Field(gt=0, le=525_600)]  # at most a year
ConditionValue = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)
]
ConditionList = Annotated[list[ConditionValue], Field(min_length=1, max_length=50)]
PolicyHours = Literal["calendar", "business", "default"]
"""What a policy counts in. `default` is written only: the workspace's default calendar when the
policy is saved, stored (and read back) as `business` with that calendar's id."""


class Metric(StrEnum):
    first_response = "first_response"
    next_response = "next_response"
    resolution = "resolution"


class ClockState(StrEnum):
    """What the API shows for one clock (the table keeps running/paused/met/breached)."""

    ok = "ok"
    at_risk = "at_risk"
    breached = "breached"
    paused = "paused"
    met = "met"


# --- business hours ------------------------------------------------------------------------------


def _check_timezone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {value!r}") from exc
    return value


def _check_schedule(value: dict[str, list[list[str]]] | None) -> dict[str, list[list[str]]] | None:
    if value is None:
        return None
    parsed = parse_schedule(value)
    if not any(parsed):
        raise ValueError("the schedule needs at least one interval (an empty week is never open)")
    # Stored complete and sorted, so reads show every weekday.
    return {
        day: [[f"{s // 60:02d}:{s % 60:02d}", f"{e // 60:02d}:{e % 60:02d}"] for s, e in intervals]
        for day, intervals in zip(WEEKDAYS, parsed, strict=True)
    }


def _check_holidays(value: list[date] | None) -> list[date] | None:
    return sorted(set(value)) if value is not None else None


Schedule = dict[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], DayIntervals]
Holidays = Annotated[list[date], Field(max_length=MAX_HOLIDAYS)]


class BusinessHoursCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    timezone: TimeZoneName
    schedule: Schedule
    holidays: Holidays = []
    is_default: bool = False

    _tz = field_validator("timezone")(_check_timezone)
    _schedule = field_validator("schedule")(_check_schedule)
    _holidays = field_validator("holidays")(_check_holidays)


class BusinessHoursUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    timezone: TimeZoneName | None = None
    schedule: Schedule | None = None
    holidays: Holidays | None = None
    is_default: bool | None = None

    _tz = field_validator("timezone")(lambda v: _check_timezone(v) if v is not None else v)
    _schedule = field_validator("schedule")(_check_schedule)
    _holidays = field_validator("holidays")(_check_holidays)

    @model_validator(mode="after")
    def _no_nulls(self) -> BusinessHoursUpdate:
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class BusinessHoursRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    timezone: str
    schedule: dict[str, list[list[str]]]
    holidays: list[str]
    is_default: bool
    created_at: datetime
    updated_at: datetime


class BusinessHoursList(BaseModel):
    items: list[BusinessHoursRead]
    next_cursor: str | None


# --- SLA policies --------------------------------------------------------------------------------


class PolicyConditions(BaseModel):
    """Every listed field must match (one of its values); an absent field matches every ticket."""

    model_config = ConfigDict(extra="forbid")

    priority: Annotated[list[Priority], Field(min_length=1, max_length=4)] | None = None
    organization_tier: ConditionList | None = None
    channel: Annotated[list[Channel], Field(min_length=1, max_length=10)] | None = None
    type: Annotated[list[TicketType], Field(min_length=1, max_length=10)] | None = None
    category: ConditionList | None = None


class NotifyAssignee(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["notify_assignee"]


class NotifyTeam(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["notify_team"]


class RaisePriority(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["raise_priority"]


class AssignTeam(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["assign_team"]
    team_id: RowId


BreachAction = Annotated[
    NotifyAssignee | NotifyTeam | RaisePriority | AssignTeam, Discriminator("type")
]


def _each_action_once(actions: list[BreachAction]) -> list[BreachAction]:
    # A second action of a kind adds nothing (a second team would simply win over the first), and
    # a list with repeats could not be shown or edited faithfully by the admin page.
    kinds = [action.type for action in actions]
    repeated = sorted({kind for kind in kinds if kinds.count(kind) > 1})
    if repeated:
        raise ValueError(f"each breach action may appear once: {', '.join(repeated)} is repeated")
    return actions


BreachActions = Annotated[
    list[BreachAction], Field(max_length=10), AfterValidator(_each_action_once)
]


def _check_default_alone(hours: str | None, business_hours_id: int | None) -> None:
    if hours == "default" and business_hours_id is not None:
        raise ValueError('"hours": "default" takes no business_hours_id (use "business")')


class SlaPolicyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    position: Annotated[int, Field(ge=0, le=100_000)] = 0
    enabled: bool = True
    conditions: PolicyConditions = PolicyConditions()
    first_response_minutes: TargetMinutes | None = None
    next_response_minutes: TargetMinutes | None = None
    resolution_minutes: TargetMinutes | None = None
    hours: PolicyHours = "calendar"
    """`business`: count only inside `business_hours_id`, or the workspace default when omitted;
    `default`: the workspace default."""
    business_hours_id: RowId | None = None
    pause_when_waiting_customer: bool = True
    at_risk_percent: Annotated[int, Field(ge=1, le=99)] = 80
    breach_actions: BreachActions = []

    @model_validator(mode="after")
    def _hours_given(self) -> SlaPolicyCreate:
        _check_default_alone(self.hours, self.business_hours_id)
        if self.business_hours_id is not None:
            self.hours = "business"
        return self


class SlaPolicyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    position: Annotated[int, Field(ge=0, le=100_000)] | None = None
    enabled: bool | None = None
    conditions: PolicyConditions | None = None
    first_response_minutes: TargetMinutes | None = None
    next_response_minutes: TargetMinutes | None = None
    resolution_minutes: TargetMinutes | None = None
    hours: PolicyHours | None = None
    """`business` without `business_hours_id` keeps the policy's calendar (or takes the default
    when it had none); `default` always takes the workspace default."""
    business_hours_id: RowId | None = None
    pause_when_waiting_customer: bool | None = None
    at_risk_percent: Annotated[int, Field(ge=1, le=99)] | None = None
    breach_actions: BreachActions | None = None

    @model_validator(mode="after")
    def _no_nulls(self) -> SlaPolicyUpdate:
        nullable = {"first_response_minutes", "next_response_minutes", "resolution_minutes"}
        nullable.add("business_hours_id")
        for name in self.model_fields_set - nullable:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        _check_default_alone(self.hours, self.business_hours_id)
        return self


class SlaPolicyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    position: int
    enabled: bool
    conditions: dict[str, list[str]]
    first_response_minutes: int | None
    next_response_minutes: int | None
    resolution_minutes: int | None
    hours: Literal["calendar", "business"]
    business_hours_id: int | None
    pause_when_waiting_customer: bool
    at_risk_percent: int
    breach_actions: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime


class SlaPolicyList(BaseModel):
    items: list[SlaPolicyRead]
    next_cursor: str | None


# --- a ticket's clocks ---------------------------------------------------------------------------


class SlaClockRead(BaseModel):
    metric: Metric
    cycle: int
    state: ClockState
    target_minutes: int
    elapsed_seconds: int
    seconds_left: int
    """Business-aware (or calendar) seconds until the target; negative once breached."""
    due_at: datetime | None
    """Precomputed while the clock runs; null while paused or after it stopped."""
    at_risk_at: datetime | None
    paused: bool
    breached: bool
    started_at: datetime
    breached_at: datetime | None
    stopped_at: datetime | None
    policy_id: int | None
    policy_name: str | None
    business_hours_id: int | None


class TicketSlaRead(BaseModel):
    ticket_id: int
    policy_id: int | None
    policy_name: str | None
    clocks: list[SlaClockRead]
