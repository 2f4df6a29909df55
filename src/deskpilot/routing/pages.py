"""Availability pages: every staff member's own control (/app/me) and the admin table (/admin/agents).

Both write through `routing.service.set_agent_status`, the function behind
`PUT /api/v1/agents/{user_id}/status`, so permissions (agents change only their own availability),
validation and the queue pull on coming online stay in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from deskpilot.core.context import Context
from deskpilot.core.pagination import MAX_PAGE_SIZE
from deskpilot.routing import service
from deskpilot.routing.schemas import MAX_CAPACITY, AgentStatusUpdate, Availability
from deskpilot.web.deps import DbSession
from deskpilot.web.page_deps import AdminPage, StaffPage, redirect, safe_next
from deskpilot.web.params import IdPath
from deskpilot.web.routing import TransactionalRoute
from deskpilot.web.templating import PageContext, is_partial_request, render
from deskpilot.workspaces.team_pages import schema_errors

router = APIRouter(tags=["pages"], route_class=TransactionalRoute, include_in_schema=False)

AVAILABILITY_LABELS = {
    Availability.online.value: "Online",
    Availability.away.value: "Away",
    Availability.offline.value: "Offline",
}
MY_PAGE = "/app/me"

NextField = Annotated[str, Form(max_length=2000)]
NextQuery = Annotated[str, Query(max_length=2000)]
AvailabilityField = Annotated[str, Form(max_length=32)]


# --- my availability -----------------------------------------------------------------------------


@dataclass(kw_only=True)
class MyAvailabilityPage(PageContext):
    availability: str
    open_tickets: int
    capacity: int
    next_url: str
    message: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=lambda: dict(AVAILABILITY_LABELS))
    nav: str = ""


def _my_page(
    request: Request,
    session: Session,
    auth: StaffPage,
    next_url: str,
    *,
    chosen: str | None = None,
    message: str = "",
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    state = service.get_agent_status(session, auth.ctx, auth.viewer.user_id)
    page = MyAvailabilityPage(
        title="My availability",
        viewer=auth.viewer,
        availability=chosen if chosen is not None else state.availability.value,
        open_tickets=state.open_tickets,
        capacity=state.capacity,
        next_url=safe_next(next_url, MY_PAGE),
        message=message,
        errors=errors or {},
    )
    return render(
        request,
        "routing/me.html",
        page,
        partial="routing/_my_availability.html",
        status_code=status_code,
    )


@router.get("/app/me")
def my_page(
    request: Request, session: DbSession, auth: StaffPage, next: NextQuery = ""
) -> Response:
    return _my_page(request, session, auth, next or MY_PAGE)


@router.get("/app/me/availability")
def my_availability(
    request: Request, session: DbSession, auth: StaffPage, next: NextQuery = ""
) -> Response:
    """The top bar loads this fragment with htmx; a plain visit gets the whole page."""
    return _my_page(request, session, auth, next or MY_PAGE)


def _online_message(assigned: int) -> str:
    if assigned <= 0:
        return "You are online."
    tickets = "ticket was" if assigned == 1 else "tickets were"
    return f"You are online. {assigned} queued {tickets} assigned to you."


@router.post("/app/me/availability")
def set_my_availability(
    request: Request,
    session: DbSession,
    auth: StaffPage,
    availability: AvailabilityField = "",
    next: NextField = "",
) -> Response:
    user_id = auth.viewer.user_id
    try:
        data = AgentStatusUpdate.model_validate({"availability": availability})
    except ValidationError as exc:
        return _my_page(
            request,
            session,
            auth,
            next,
            chosen=availability,
            errors=schema_errors(exc),
            status_code=422,
        )
    before = service.get_agent_status(session, auth.ctx, user_id).open_tickets
    state = service.set_agent_status(session, auth.ctx, user_id, data)
    if state.availability == Availability.online:
        # Coming online pulls queued tickets inside set_agent_status: the load grew by that many.
        message = _online_message(state.open_tickets - before)
    else:
        message = f"You are {state.availability.value}."
    if is_partial_request(request):
        return _my_page(request, session, auth, next, message=message)
    return redirect(request, safe_next(next, MY_PAGE), flash=message)


# --- admin: agents' status -----------------------------------------------------------------------


@dataclass
class AgentForm:
    availability: str
    capacity: str
    skills: str


@dataclass(frozen=True)
class AgentRow:
    user_id: int
    name: str
    email: str
    availability: str
    capacity: int
    open_tickets: int
    skills: list[str]
    form: AgentForm
    is_self: bool


@dataclass(kw_only=True)
class AgentsPage(PageContext):
    agents: list[AgentRow]
    row_errors: dict[int, dict[str, str]] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=lambda: dict(AVAILABILITY_LABELS))
    max_capacity: int = MAX_CAPACITY
    message: str = ""
    nav: str = "admin"


def _every_agent(session: Session, ctx: Context) -> list[service.AgentState]:
    states: list[service.AgentState] = []
    cursor: str | None = None
    while True:
        page, cursor = service.list_agent_statuses(session, ctx, limit=MAX_PAGE_SIZE, cursor=cursor)
        states += page
        if cursor is None:
            return sorted(states, key=lambda s: ((s.name or s.email).lower(), s.user_id))


def _agents_page(
    request: Request,
    session: Session,
    auth: AdminPage,
    *,
    submitted: tuple[int, AgentForm] | None = None,
    errors: dict[str, str] | None = None,
    message: str = "",
    status_code: int = 200,
) -> Response:
    rows = []
    for state in _every_agent(session, auth.ctx):
        form = AgentForm(state.availability.value, str(state.capacity), ", ".join(state.skills))
        if submitted is not None and submitted[0] == state.user_id:
            form = submitted[1]  # what the admin typed, so a mistake is fixed, not retyped
        rows.append(
            AgentRow(
                user_id=state.user_id,
                name=state.name,
                email=state.email,
                availability=state.availability.value,
                capacity=state.capacity,
                open_tickets=state.open_tickets,
                skills=state.skills,
                form=form,
                is_self=state.user_id == auth.ctx.user_id,
            )
        )
    row_errors = {submitted[0]: errors} if submitted is not None and errors else {}
    page = AgentsPage(
        title="Agents' status",
        viewer=auth.viewer,
        agents=rows,
        row_errors=row_errors,
        message=message,
    )
    return render(
        request,
        "routing/admin_agents.html",
        page,
        partial="routing/_agents_table.html",
        status_code=status_code,
    )


@router.get("/admin/agents")
def agents(request: Request, session: DbSession, auth: AdminPage) -> Response:
    return _agents_page(request, session, auth)


def parse_skills(text: str) -> list[str]:
    """ "billing, Outage" -> ["billing", "Outage"]; an empty box clears the skills."""
    return [part.strip() for part in text.split(",") if part.strip()]


CapacityField = Annotated[str, Form(max_length=32)]
SkillsField = Annotated[str, Form(max_length=8000)]


@router.post("/admin/agents/{user_id}")
def update_agent(
    user_id: IdPath,
    request: Request,
    session: DbSession,
    auth: AdminPage,
    availability: AvailabilityField = "",
    capacity: CapacityField = "",
    skills: SkillsField = "",
) -> Response:
    form = AgentForm(availability, capacity, skills)
    # Unknown or other-workspace people are a 404 before any validation message talks about them.
    name = service.get_agent_status(session, auth.ctx, user_id).name
    try:
        data = AgentStatusUpdate.model_validate(
            {
                "availability": availability,
                "capacity": capacity.strip(),
                "skills": parse_skills(skills),
            }
        )
    except ValidationError as exc:
        return _agents_page(
            request,
            session,
            auth,
            submitted=(user_id, form),
            errors=schema_errors(exc),
            status_code=422,
        )
    state = service.set_agent_status(session, auth.ctx, user_id, data)
    message = (
        f"Saved {name or state.email}: {AVAILABILITY_LABELS[state.availability.value].lower()}, "
        f"capacity {state.capacity}."
    )
    if is_partial_request(request):
        return _agents_page(request, session, auth, message=message)
    return redirect(request, "/admin/agents", flash=message)
