"""Admin pages for teams (/admin/teams): list, create, rename, delete, members, routing.

Included into `workspaces.pages.router`. Everything goes through `workspaces.service` (teams and
members) and `routing.service` (how a team's tickets are assigned).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from deskpilot.auth import service as auth_service
from deskpilot.core.context import Context, Role
from deskpilot.core.errors import Conflict, DomainError, ValidationFailed
from deskpilot.core.ids import MAX_DB_ID
from deskpilot.core.pagination import MAX_PAGE_SIZE
from deskpilot.routing import service as routing_service
from deskpilot.routing.schemas import Strategy
from deskpilot.web.deps import DbSession
from deskpilot.web.page_deps import AdminPage, redirect
from deskpilot.web.params import IdPath
from deskpilot.web.routing import TransactionalRoute
from deskpilot.web.templating import PageContext, is_partial_request, render
from deskpilot.workspaces import service
from deskpilot.workspaces.models import Team
from deskpilot.workspaces.schemas import TeamCreate, TeamUpdate

router = APIRouter(tags=["pages"], route_class=TransactionalRoute, include_in_schema=False)

STRATEGY_LABELS = {
    Strategy.manual.value: "Manual (agents pick tickets)",
    Strategy.round_robin.value: "Round robin",
    Strategy.least_load.value: "Least open tickets",
}


def field_errors(exc: DomainError, known: tuple[str, ...], fallback: str) -> dict[str, str]:
    """A domain error's `details` as {form field: message}; unknown fields go to `fallback`."""
    errors: dict[str, str] = {}
    details = exc.details if isinstance(exc.details, list) else []
    for detail in details:
        name = str(detail.get("field", "")).split(".")[0]
        message = str(detail.get("message", ""))
        errors.setdefault(name if name in known else fallback, message)
    return errors or {fallback: exc.message}


def schema_errors(exc: ValidationError) -> dict[str, str]:
    """A Pydantic error as {form field: message}, the first message per field."""
    errors: dict[str, str] = {}
    for err in exc.errors():
        name = str(err["loc"][0]) if err["loc"] else "form"
        errors.setdefault(name, err["msg"].removeprefix("Value error, "))
    return errors


@dataclass(frozen=True)
class Person:
    user_id: int
    name: str
    email: str
    role: str


def active_staff(session: Session, ctx: Context) -> list[Person]:
    """Every active owner, admin and agent, by name (staff lists are short; pages of 100)."""
    people: list[Person] = []
    for role in (Role.owner, Role.admin, Role.agent):
        cursor: str | None = None
        while True:
            members, cursor = auth_service.list_members(
                session, ctx, role=role, limit=MAX_PAGE_SIZE, cursor=cursor
            )
            people += [
                Person(m.user_id, m.name, m.email, m.role.value) for m in members if m.is_active
            ]
            if cursor is None:
                break
    return sorted(people, key=lambda p: ((p.name or p.email).lower(), p.user_id))


@dataclass(frozen=True)
class TeamRow:
    id: int
    name: str
    description: str
    member_count: int
    strategy: str


def _every_team(session: Session, ctx: Context) -> list[Team]:
    teams: list[Team] = []
    cursor: str | None = None
    while True:
        page, cursor = service.list_teams(session, ctx, limit=MAX_PAGE_SIZE, cursor=cursor)
        teams += page
        if cursor is None:
            return teams


def _all_teams(session: Session, ctx: Context) -> list[TeamRow]:
    teams = _every_team(session, ctx)
    members = service.member_ids_by_team(session, ctx, [t.id for t in teams])
    rows = [
        TeamRow(
            t.id,
            t.name,
            t.description,
            len(members[t.id]),
            routing_service.get_team_routing(session, ctx, t.id).strategy.value,
        )
        for t in teams
    ]
    return sorted(rows, key=lambda r: (r.name.lower(), r.id))


def all_team_names(session: Session, ctx: Context) -> list[tuple[int, str]]:
    """(id, name) of every team, by name: for pickers on other admin pages."""
    teams = _every_team(session, ctx)
    return sorted(((t.id, t.name) for t in teams), key=lambda pair: (pair[1].lower(), pair[0]))


@dataclass
class TeamForm:
    name: str = ""
    description: str = ""


@dataclass(kw_only=True)
class TeamsPage(PageContext):
    teams: list[TeamRow]
    form: TeamForm = field(default_factory=TeamForm)
    errors: dict[str, str] = field(default_factory=dict)
    strategy_labels: dict[str, str] = field(default_factory=lambda: dict(STRATEGY_LABELS))
    nav: str = "admin"


def _teams_page(
    request: Request,
    session: Session,
    auth: AdminPage,
    *,
    form: TeamForm | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    page = TeamsPage(
        title="Teams",
        viewer=auth.viewer,
        teams=_all_teams(session, auth.ctx),
        form=form or TeamForm(),
        errors=errors or {},
    )
    return render(request, "workspaces/admin_teams.html", page, status_code=status_code)


@router.get("/admin/teams")
def teams(request: Request, session: DbSession, auth: AdminPage) -> Response:
    return _teams_page(request, session, auth)


NameField = Annotated[str, Form(max_length=1000)]
DescriptionField = Annotated[str, Form(max_length=5000)]


@router.post("/admin/teams")
def create_team(
    request: Request,
    session: DbSession,
    auth: AdminPage,
    name: NameField = "",
    description: DescriptionField = "",
) -> Response:
    form = TeamForm(name=name, description=description)
    try:
        data = TeamCreate(name=name, description=description)
        team = service.create_team(session, auth.ctx, data)
    except ValidationError as exc:
        return _teams_page(
            request, session, auth, form=form, errors=schema_errors(exc), status_code=422
        )
    except (Conflict, ValidationFailed) as exc:
        errors = field_errors(exc, ("name", "description"), "name")
        return _teams_page(request, session, auth, form=form, errors=errors, status_code=exc.status)
    return redirect(request, f"/admin/teams/{team.id}", flash=f"Team {team.name} created.")


# --- one team ------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class TeamPage(PageContext):
    team_id: int
    form: TeamForm
    members: list[Person]
    candidates: list[Person]
    strategy: str
    strategy_labels: dict[str, str] = field(default_factory=lambda: dict(STRATEGY_LABELS))
    errors: dict[str, str] = field(default_factory=dict)
    nav: str = "admin"


def _team_page(
    request: Request,
    session: Session,
    auth: AdminPage,
    team_id: int,
    *,
    form: TeamForm | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    ctx = auth.ctx
    team = service.get_team(session, ctx, team_id)
    member_ids = set(service.list_team_member_ids(session, ctx, team.id))
    staff = active_staff(session, ctx)
    page = TeamPage(
        title=f"Team {team.name}",
        viewer=auth.viewer,
        team_id=team.id,
        form=form or TeamForm(name=team.name, description=team.description),
        members=[p for p in staff if p.user_id in member_ids],
        candidates=[p for p in staff if p.user_id not in member_ids],
        strategy=routing_service.get_team_routing(session, ctx, team.id).strategy.value,
        errors=errors or {},
    )
    return render(
        request,
        "workspaces/admin_team.html",
        page,
        partial="workspaces/_team_members.html",
        status_code=status_code,
    )


@router.get("/admin/teams/{team_id}")
def team_detail(team_id: IdPath, request: Request, session: DbSession, auth: AdminPage) -> Response:
    return _team_page(request, session, auth, team_id)


@router.post("/admin/teams/{team_id}")
def update_team(
    team_id: IdPath,
    request: Request,
    session: DbSession,
    auth: AdminPage,
    name: NameField = "",
    description: DescriptionField = "",
) -> Response:
    form = TeamForm(name=name, description=description)
    try:
        data = TeamUpdate(name=name, description=description)
        team = service.update_team(session, auth.ctx, team_id, data)
    except ValidationError as exc:
        errors = schema_errors(exc)
        return _team_page(
            request, session, auth, team_id, form=form, errors=errors, status_code=422
        )
    except (Conflict, ValidationFailed) as exc:
        errors = field_errors(exc, ("name", "description"), "name")
        return _team_page(
            request, session, auth, team_id, form=form, errors=errors, status_code=exc.status
        )
    return redirect(request, f"/admin/teams/{team.id}", flash="Team saved.")


@router.post("/admin/teams/{team_id}/delete")
def delete_team(team_id: IdPath, request: Request, session: DbSession, auth: AdminPage) -> Response:
    team = service.get_team(session, auth.ctx, team_id)
    name = team.name
    service.delete_team(session, auth.ctx, team.id)
    return redirect(request, "/admin/teams", flash=f"Team {name} deleted.")


UserIdField = Annotated[int, Form(ge=1, le=MAX_DB_ID)]


def _after_member_change(
    request: Request, session: Session, auth: AdminPage, team_id: int, message: str
) -> Response:
    """htmx swaps the members panel in place; without JavaScript the page reloads."""
    if is_partial_request(request):
        return _team_page(request, session, auth, team_id)
    return redirect(request, f"/admin/teams/{team_id}", flash=message)


@router.post("/admin/teams/{team_id}/members")
def add_member(
    team_id: IdPath,
    request: Request,
    session: DbSession,
    auth: AdminPage,
    user_id: UserIdField,
) -> Response:
    try:
        service.add_team_member(session, auth.ctx, team_id, user_id)
    except ValidationFailed as exc:
        errors = field_errors(exc, ("user_id",), "user_id")
        return _team_page(request, session, auth, team_id, errors=errors, status_code=422)
    return _after_member_change(request, session, auth, team_id, "Member added.")


@router.post("/admin/teams/{team_id}/members/{user_id}/remove")
def remove_member(
    team_id: IdPath, user_id: IdPath, request: Request, session: DbSession, auth: AdminPage
) -> Response:
    service.remove_team_member(session, auth.ctx, team_id, user_id)
    return _after_member_change(request, session, auth, team_id, "Member removed.")


StrategyField = Annotated[Strategy, Form()]


@router.post("/admin/teams/{team_id}/routing")
def set_routing(
    team_id: IdPath,
    request: Request,
    session: DbSession,
    auth: AdminPage,
    strategy: StrategyField,
) -> Response:
    routing_service.set_team_routing(session, auth.ctx, team_id, strategy)
    label = STRATEGY_LABELS[strategy.value]
    return redirect(request, f"/admin/teams/{team_id}", flash=f"Assignment set to {label}.")
