"""Admin pages for business-hours calendars (/admin/sla/hours): create, edit, delete.

Included into `sla.pages.router`. Writes go through `sla.service` (as `/api/v1/business-hours`);
this module turns the weekly grid and the holiday list typed into the form into the API's
`schedule` and `holidays`, and the service's refusals (a name in use, a calendar a policy still
counts in) into messages on the page.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Annotated, Any, Protocol, TypeVar
from zoneinfo import available_timezones

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from deskpilot.core.context import Context
from deskpilot.core.errors import Conflict, DomainError, NotFound, ValidationFailed
from deskpilot.core.pagination import MAX_PAGE_SIZE
from deskpilot.sla import service
from deskpilot.sla.calendar import WEEKDAYS, parse_schedule
from deskpilot.sla.models import BusinessHours, SlaPolicy
from deskpilot.sla.schemas import MAX_HOLIDAYS, BusinessHoursCreate, BusinessHoursUpdate
from deskpilot.web.deps import DbSession
from deskpilot.web.page_deps import AdminPage, redirect
from deskpilot.web.params import FormText, IdPath
from deskpilot.web.routing import TransactionalRoute
from deskpilot.web.templating import PageContext, render
from deskpilot.workspaces.team_pages import field_errors, schema_errors

M = TypeVar("M", bound=BaseModel)
Row = TypeVar("Row")
Saved = TypeVar("Saved")

router = APIRouter(tags=["pages"], route_class=TransactionalRoute, include_in_schema=False)

DAY_NAMES = dict(
    zip(
        WEEKDAYS,
        ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
        strict=True,
    )
)
HOURS_FIELDS = ("name", "timezone", "schedule", "holidays", "is_default")
_WALL_TIME = re.compile(r"^(\d{1,2})(?::?(\d{2}))?$")
# A hyphen, an en or em dash (as word processors type them) or "to" separates a range's ends.
_RANGE_DASH = re.compile(r"\s*(?:-|\u2013|\u2014|\bto\b)\s*")


@lru_cache(maxsize=1)
def time_zone_names() -> tuple[str, ...]:
    """Every IANA zone this server knows (from the system or the `tzdata` package), sorted."""
    return tuple(sorted(available_timezones()))


class Listing(Protocol[Row]):
    """A service's cursor-paginated list function, e.g. `service.list_policies`."""

    def __call__(
        self, session: Session, ctx: Context, *, limit: int, cursor: str | None
    ) -> tuple[list[Row], str | None]: ...


def every_page(listing: Listing[Row], session: Session, ctx: Context) -> list[Row]:
    """Every row a listing has, read page after page (the admin lists are short)."""
    rows: list[Row] = []
    cursor: str | None = None
    while True:
        page, cursor = listing(session, ctx, limit=MAX_PAGE_SIZE, cursor=cursor)
        rows += page
        if cursor is None:
            return rows


def all_business_hours(session: Session, ctx: Context) -> list[BusinessHours]:
    """Every calendar of the workspace, by name."""
    calendars = every_page(service.list_business_hours, session, ctx)
    return sorted(calendars, key=lambda h: (h.name.lower(), h.id))


def all_policies(session: Session, ctx: Context) -> list[SlaPolicy]:
    """Every policy, enabled or not, in matching order (position, then id)."""
    return sorted(every_page(service.list_policies, session, ctx), key=lambda p: (p.position, p.id))


# --- saving a form -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refused:
    """Why a form was not saved: messages by form field, and the page's status (422 or 409)."""

    errors: dict[str, str]
    status_code: int = 422


def save_form(
    session: Session,
    schema: type[M],
    data: dict[str, Any],
    found: dict[str, str],
    *,
    save: Callable[[M], Saved],
    errors_of: Callable[[ValidationError | DomainError], dict[str, str]],
) -> Saved | Refused:
    """Check the form's API body against `schema` and, when neither it nor the form's own parsing
    (`found`) has a complaint, `save` it. `errors_of` names the fields of a refusal; the form's
    own messages win over the schema's, which would only repeat them less precisely."""
    try:
        body = schema.model_validate(data)
    except ValidationError as exc:
        return Refused(errors_of(exc) | found)
    if found:
        return Refused(found)
    try:
        # A refused save must leave nothing half-written behind.
        with session.begin_nested():
            return save(body)
    except (Conflict, ValidationFailed) as exc:
        return Refused(errors_of(exc), exc.status)


def format_intervals(intervals: list[list[str]] | None) -> str:
    """[["09:00", "12:30"], ["13:30", "17:00"]] -> '09:00-12:30, 13:30-17:00'."""
    return ", ".join(f"{start}-{end}" for start, end in intervals or [])


@dataclass(frozen=True)
class HoursRow:
    id: int
    name: str
    timezone: str
    is_default: bool
    week: list[tuple[str, str]]
    holidays: int
    used_by: list[str]


def hours_rows(session: Session, ctx: Context, policies: list[SlaPolicy]) -> list[HoursRow]:
    """The calendars for the SLA overview, each with the policies that count in it."""
    return [
        HoursRow(
            id=h.id,
            name=h.name,
            timezone=h.timezone,
            is_default=h.is_default,
            week=[
                (DAY_NAMES[day][:3], format_intervals((h.schedule or {}).get(day)) or "Closed")
                for day in WEEKDAYS
            ],
            holidays=len(h.holidays or []),
            used_by=[p.name for p in policies if p.business_hours_id == h.id],
        )
        for h in all_business_hours(session, ctx)
    ]


# --- the form ------------------------------------------------------------------------------------


@dataclass
class DayForm:
    open: bool
    hours: str


def _default_week() -> dict[str, DayForm]:
    workdays = WEEKDAYS[:5]
    return {
        day: DayForm(day in workdays, "09:00-17:00" if day in workdays else "") for day in WEEKDAYS
    }


@dataclass
class HoursForm:
    name: str = ""
    timezone: str = "UTC"
    days: dict[str, DayForm] = field(default_factory=_default_week)
    holidays: str = ""
    is_default: bool = False


def hours_form(hours: BusinessHours) -> HoursForm:
    schedule = hours.schedule or {}
    return HoursForm(
        name=hours.name,
        timezone=hours.timezone,
        days={
            day: DayForm(bool(schedule.get(day)), format_intervals(schedule.get(day)))
            for day in WEEKDAYS
        },
        holidays="\n".join(sorted(hours.holidays or [])),
        is_default=hours.is_default,
    )


def read_hours_form(
    name: FormText = "",
    timezone: FormText = "",
    holidays: Annotated[str, Form(max_length=20_000)] = "",
    is_default: FormText = "",
    open_mon: FormText = "",
    hours_mon: FormText = "",
    open_tue: FormText = "",
    hours_tue: FormText = "",
    open_wed: FormText = "",
    hours_wed: FormText = "",
    open_thu: FormText = "",
    hours_thu: FormText = "",
    open_fri: FormText = "",
    hours_fri: FormText = "",
    open_sat: FormText = "",
    hours_sat: FormText = "",
    open_sun: FormText = "",
    hours_sun: FormText = "",
) -> HoursForm:
    """Unticked boxes are absent from a form post: they read as closed / not the default."""
    given = locals()
    return HoursForm(
        name=name,
        timezone=timezone,
        days={day: DayForm(bool(given[f"open_{day}"]), given[f"hours_{day}"]) for day in WEEKDAYS},
        holidays=holidays,
        is_default=bool(is_default),
    )


SubmittedHours = Annotated[HoursForm, Depends(read_hours_form)]


def _wall_time(text: str) -> str:
    """'9', '9:00', '0900' -> '09:00' (the calendar checks the range)."""
    match = _WALL_TIME.match(text.strip())
    if match is None:
        raise ValueError(f"{text.strip()[:20]} is not a time: write ranges like 09:00-17:00")
    return f"{int(match.group(1)):02d}:{match.group(2) or '00'}"


def parse_day(text: str) -> list[list[str]]:
    """'09:00-12:30, 13:30-17:00' -> [["09:00", "12:30"], ["13:30", "17:00"]]; ValueError."""
    intervals = []
    for part in re.split(r"[,;\n]", text):
        if not part.strip():
            continue
        bounds = _RANGE_DASH.split(part.strip())
        if len(bounds) != 2:
            raise ValueError(f"{part.strip()[:30]} is not a range: write 09:00-17:00")
        intervals.append([_wall_time(bounds[0]), _wall_time(bounds[1])])
    return intervals


def parse_holidays(text: str) -> list[str]:
    """Dates one per line (or comma-separated) as YYYY-MM-DD; ValueError naming the bad one."""
    days = []
    for part in re.split(r"[,;\s]+", text):
        if not part:
            continue
        try:
            days.append(date.fromisoformat(part).isoformat())
        except ValueError as exc:
            raise ValueError(f"{part[:20]} is not a date: write YYYY-MM-DD") from exc
    if len(days) > MAX_HOLIDAYS:
        raise ValueError(f"at most {MAX_HOLIDAYS} holidays")
    return days


def hours_payload(form: HoursForm) -> tuple[dict[str, Any], dict[str, str]]:
    """The API body the form stands for, and the errors found per weekday and holiday list."""
    errors: dict[str, str] = {}
    schedule: dict[str, list[list[str]]] = {}
    for day, entry in form.days.items():
        if not entry.open:
            schedule[day] = []
            continue
        try:
            schedule[day] = parse_day(entry.hours)
            if not schedule[day]:
                raise ValueError("enter the opening hours, e.g. 09:00-17:00, or untick Open")
            parse_schedule({day: schedule[day]})  # times in range, ordered, not overlapping
        except ValueError as exc:
            errors[f"hours_{day}"] = str(exc).removeprefix(f"{day}: ")
    data: dict[str, Any] = {
        "name": form.name,
        "timezone": form.timezone,
        "schedule": schedule,
        "is_default": form.is_default,
    }
    try:
        data["holidays"] = parse_holidays(form.holidays)
    except ValueError as exc:
        errors["holidays"] = str(exc)
    return data, errors


@dataclass(kw_only=True)
class HoursPage(PageContext):
    hours_id: int | None
    form: HoursForm
    errors: dict[str, str] = field(default_factory=dict)
    page_error: str = ""
    used_by: list[tuple[int, str]] = field(default_factory=list)
    time_zones: tuple[str, ...] = ()
    day_names: dict[str, str] = field(default_factory=lambda: dict(DAY_NAMES))
    nav: str = "admin"


def _policies_using(session: Session, ctx: Context, policy_ids: list[int]) -> list[tuple[int, str]]:
    used = []
    for policy_id in policy_ids:
        try:
            used.append((policy_id, service.get_policy(session, ctx, policy_id).name))
        except NotFound:
            continue
    return used


def _hours_page(
    request: Request,
    session: Session,
    auth: AdminPage,
    *,
    hours: BusinessHours | None = None,
    form: HoursForm | None = None,
    errors: dict[str, str] | None = None,
    page_error: str = "",
    status_code: int = 200,
) -> Response:
    page_form = form or (hours_form(hours) if hours else HoursForm())
    used_by = []
    if hours is not None:
        policies = all_policies(session, auth.ctx)
        used_by = [(p.id, p.name) for p in policies if p.business_hours_id == hours.id]
    zones = time_zone_names()
    chosen = page_form.timezone
    page = HoursPage(
        title=f"Business hours {hours.name}" if hours else "New business hours",
        viewer=auth.viewer,
        hours_id=hours.id if hours else None,
        form=page_form,
        errors=errors or {},
        page_error=page_error,
        used_by=used_by,
        # A zone saved through the API stays pickable even if this server's list lacks it.
        time_zones=zones if chosen in zones or not chosen else (chosen, *zones),
    )
    return render(request, "sla/admin_hours.html", page, status_code=status_code)


def _hours_errors(exc: ValidationError | DomainError) -> dict[str, str]:
    if isinstance(exc, ValidationError):
        return schema_errors(exc)
    return field_errors(exc, HOURS_FIELDS, "name")


def _shown_errors(refused: Refused) -> dict[str, str]:
    """A weekday with a typo is left out of the schedule, so "the week is never open" would only
    repeat that day's message."""
    errors = dict(refused.errors)
    if any(name.startswith("hours_") for name in errors):
        errors.pop("schedule", None)
    return errors


@router.get("/admin/sla/hours/new")
def new_hours(request: Request, session: DbSession, auth: AdminPage) -> Response:
    return _hours_page(request, session, auth)


@router.post("/admin/sla/hours")
def create_hours(
    request: Request, session: DbSession, auth: AdminPage, form: SubmittedHours
) -> Response:
    data, found = hours_payload(form)
    hours = save_form(
        session,
        BusinessHoursCreate,
        data,
        found,
        save=lambda body: service.create_business_hours(session, auth.ctx, body)[0],
        errors_of=_hours_errors,
    )
    if isinstance(hours, Refused):
        errors = _shown_errors(hours)
        return _hours_page(
            request, session, auth, form=form, errors=errors, status_code=hours.status_code
        )
    return redirect(request, "/admin/sla", flash=f"Business hours {hours.name} created.")


@router.get("/admin/sla/hours/{hours_id}")
def hours_detail(
    hours_id: IdPath, request: Request, session: DbSession, auth: AdminPage
) -> Response:
    hours = service.get_business_hours(session, auth.ctx, hours_id)
    return _hours_page(request, session, auth, hours=hours)


@router.post("/admin/sla/hours/{hours_id}")
def update_hours(
    hours_id: IdPath,
    request: Request,
    session: DbSession,
    auth: AdminPage,
    form: SubmittedHours,
) -> Response:
    """The form sends every field: the calendar becomes what it shows (open clocks re-time)."""
    current = service.get_business_hours(session, auth.ctx, hours_id)
    data, found = hours_payload(form)
    hours = save_form(
        session,
        BusinessHoursUpdate,
        data,
        found,
        save=lambda body: service.update_business_hours(session, auth.ctx, current.id, body),
        errors_of=_hours_errors,
    )
    if isinstance(hours, Refused):
        errors, status_code = _shown_errors(hours), hours.status_code
        unchanged = service.get_business_hours(session, auth.ctx, hours_id)
        return _hours_page(
            request,
            session,
            auth,
            hours=unchanged,
            form=form,
            errors=errors,
            status_code=status_code,
        )
    return redirect(request, f"/admin/sla/hours/{hours.id}", flash="Business hours saved.")


@router.post("/admin/sla/hours/{hours_id}/delete")
def delete_hours(
    hours_id: IdPath, request: Request, session: DbSession, auth: AdminPage
) -> Response:
    hours = service.get_business_hours(session, auth.ctx, hours_id)
    name = hours.name
    try:
        with session.begin_nested():
            service.delete_business_hours(session, auth.ctx, hours.id)
    except Conflict as exc:
        details = exc.details if isinstance(exc.details, dict) else {}
        users = _policies_using(session, auth.ctx, list(details.get("policy_ids", [])))
        names = ", ".join(policy_name for _, policy_name in users)
        message = f"{name} cannot be deleted: SLA policies count in it ({names}). "
        message += "Move those policies to other hours first."
        return _hours_page(request, session, auth, hours=hours, page_error=message, status_code=409)
    return redirect(request, "/admin/sla", flash=f"Business hours {name} deleted.")
