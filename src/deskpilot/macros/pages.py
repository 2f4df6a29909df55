"""Pages to manage macros: shared ones under /admin/macros, personal ones under /app/macros.

The service decides who may do what (`_visible` / `_require_editable`): a personal macro exists
only for its owner, admins included, and shared macros are changed by admins only. So admins
manage the shared macros in the admin area, and every staff member (admins too) manages their own
personal macros from the console. Both areas use the same forms; `Area` says which kind of macro
an area lists and where its pages live. Every write goes through `macros.service`, like
`/api/v1/macros`. Forms post and redirect without JavaScript; the Preview button renders the body
with sample variables, in place with htmx, or by re-rendering the whole form without it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from deskpilot.core.errors import DomainError, NotFound, ValidationFailed
from deskpilot.macros import service
from deskpilot.macros.macro_form import (
    CHANGE_FIELDS,
    Action,
    MacroForm,
    PostedForm,
    Preview,
    Variable,
    preview_of,
    variables,
)
from deskpilot.macros.models import Macro
from deskpilot.macros.schemas import MacroChanges, MacroCreate, MacroUpdate
from deskpilot.tickets.lifecycle import Priority, Status, TicketType
from deskpilot.web.deps import DbSession
from deskpilot.web.page_deps import AdminPage, PageAuth, StaffPage, redirect
from deskpilot.web.params import IdPath
from deskpilot.web.routing import TransactionalRoute
from deskpilot.web.templating import PageContext, label, render
from deskpilot.workspaces.team_pages import (
    active_staff,
    all_team_names,
    field_errors,
    schema_errors,
)

router = APIRouter(tags=["pages"], route_class=TransactionalRoute, include_in_schema=False)

LIST_PAGE_SIZE = 50
VISIBILITY_LABELS = {"public": "Public reply", "internal": "Internal note"}
MacroInput = TypeVar("MacroInput", MacroCreate, MacroUpdate)
FORM_FIELDS = ("name", "body", "visibility", *CHANGE_FIELDS, "add_tags", "shared")


@dataclass(frozen=True)
class Area:
    """Where a kind of macro is managed: shared ones by admins, personal ones by their owner."""

    base_url: str
    layout: str
    nav: str
    shared: bool
    title: str


ADMIN_AREA = Area("/admin/macros", "workspaces/admin_base.html", "admin", True, "Shared macros")
CONSOLE_AREA = Area("/app/macros", "macros/macro_console_base.html", "macros", False, "My macros")


def _area_of(shared: bool) -> Area:
    return ADMIN_AREA if shared else CONSOLE_AREA


# --- the list ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MacroRow:
    id: int
    name: str
    visibility: str
    changes: list[str]
    usage_count: int
    updated_at: datetime


@dataclass(kw_only=True)
class MacroListPage(PageContext):
    area: Area
    rows: list[MacroRow]
    q: str = ""
    next_url: str = ""
    visibility_labels: dict[str, str] = field(default_factory=lambda: dict(VISIBILITY_LABELS))


@dataclass(frozen=True)
class Names:
    """Team and people names, to show a macro's `team_id` and `assignee_id` as words."""

    teams: list[tuple[int, str]]
    people: list[tuple[int, str]]


def _names(session: Session, auth: PageAuth) -> Names:
    people = [(p.user_id, p.name or p.email) for p in active_staff(session, auth.ctx)]
    return Names(all_team_names(session, auth.ctx), people)


def describe_changes(changes: dict[str, Any], names: Names) -> list[str]:
    """What applying the macro changes on a ticket, one phrase per field, in form order."""
    teams, people = dict(names.teams), dict(names.people)
    phrases: list[str] = []
    for name in ("status", "priority", "type"):
        if changes.get(name):
            phrases.append(f"{label(name)}: {label(str(changes[name]))}")
    if changes.get("category"):
        phrases.append(f"Category: {changes['category']}")
    if changes.get("team_id"):
        team_id = int(changes["team_id"])
        phrases.append(f"Team: {teams.get(team_id, f'#{team_id} (deleted)')}")
    if changes.get("assignee_id"):
        user_id = int(changes["assignee_id"])
        phrases.append(f"Assignee: {people.get(user_id, f'#{user_id} (no longer active)')}")
    if changes.get("add_tags"):
        phrases.append("Add tags: " + ", ".join(str(t) for t in changes["add_tags"]))
    return phrases


def _list_page(
    request: Request, session: Session, auth: PageAuth, area: Area, q: str, cursor: str | None
) -> Response:
    query = q.strip()
    listed = partial(
        service.list_macros,
        session,
        auth.ctx,
        q=query or None,
        shared=area.shared,
        limit=LIST_PAGE_SIZE,
    )
    try:
        macros, next_cursor = listed(cursor=cursor)
    except ValidationFailed:  # a cursor that does not parse starts from the top, as elsewhere
        macros, next_cursor = listed()
    names = _names(session, auth)
    rows = [
        MacroRow(
            m.id,
            m.name,
            m.visibility,
            describe_changes(m.changes, names),
            m.usage_count,
            m.updated_at,
        )
        for m in macros
    ]
    next_url = ""
    if next_cursor:
        next_url = f"{area.base_url}?" + urlencode({"q": query, "cursor": next_cursor})
    page = MacroListPage(
        title=area.title,
        viewer=auth.viewer,
        nav=area.nav,
        area=area,
        rows=rows,
        q=query,
        next_url=next_url,
    )
    return render(request, "macros/macro_list.html", page, partial="macros/_macro_rows.html")


SearchQuery = Annotated[str, Query(max_length=200)]
CursorQuery = Annotated[str | None, Query(max_length=200)]


@router.get("/admin/macros")
def shared_macros(
    request: Request,
    session: DbSession,
    auth: AdminPage,
    q: SearchQuery = "",
    cursor: CursorQuery = None,
) -> Response:
    return _list_page(request, session, auth, ADMIN_AREA, q, cursor)


@router.get("/app/macros")
def my_macros(
    request: Request,
    session: DbSession,
    auth: StaffPage,
    q: SearchQuery = "",
    cursor: CursorQuery = None,
) -> Response:
    return _list_page(request, session, auth, CONSOLE_AREA, q, cursor)


# --- the edit page ---------------------------------------------------------------------------


@dataclass(kw_only=True)
class MacroEditPage(PageContext):
    area: Area
    macro_id: int | None
    form: MacroForm
    errors: dict[str, str] = field(default_factory=dict)
    preview: Preview | None = None
    usage_count: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    teams: list[tuple[str, str]] = field(default_factory=list)
    people: list[tuple[str, str]] = field(default_factory=list)
    variables: list[Variable] = field(default_factory=list)
    visibility_options: list[tuple[str, str]] = field(
        default_factory=lambda: list(VISIBILITY_LABELS.items())
    )
    statuses: list[tuple[str, str]] = field(
        default_factory=lambda: [(s.value, label(s.value)) for s in Status]
    )
    priorities: list[tuple[str, str]] = field(
        default_factory=lambda: [(p.value, label(p.value)) for p in Priority]
    )
    types: list[tuple[str, str]] = field(
        default_factory=lambda: [(t.value, label(t.value)) for t in TicketType]
    )

    @property
    def is_new(self) -> bool:
        return self.macro_id is None

    @property
    def form_url(self) -> str:
        return self.area.base_url if self.is_new else f"{self.area.base_url}/{self.macro_id}"


def _with_missing(options: list[tuple[int, str]], value: str, note: str) -> list[tuple[str, str]]:
    """The options plus the form's value if missing (deleted team, deactivated agent): kept
    selected, saving shows the service's error there instead of silently leaving it as is."""
    choices = [(str(option), text) for option, text in options]
    value = value.strip()
    if value and value not in {option for option, _ in choices}:
        choices.append((value, f"#{value} ({note})"))
    return choices


def _edit_page(
    request: Request,
    session: Session,
    auth: PageAuth,
    area: Area,
    *,
    macro: Macro | None,
    form: MacroForm,
    errors: dict[str, str] | None = None,
    preview: Preview | None = None,
    status_code: int = 200,
) -> Response:
    names = _names(session, auth)
    page = MacroEditPage(
        title=f"Macro {macro.name}" if macro else "New macro",
        viewer=auth.viewer,
        nav=area.nav,
        area=area,
        macro_id=macro.id if macro else None,
        form=form,
        errors=errors or {},
        preview=preview,
        variables=variables(auth),
        usage_count=macro.usage_count if macro else 0,
        created_at=macro.created_at if macro else None,
        updated_at=macro.updated_at if macro else None,
        teams=_with_missing(names.teams, form.team_id, "no longer exists"),
        people=_with_missing(names.people, form.assignee_id, "no longer active"),
    )
    # htmx asks only for the preview box; a plain post gets the whole form back with it.
    partial = "macros/_macro_preview.html" if preview is not None else None
    return render(request, "macros/macro_edit.html", page, partial=partial, status_code=status_code)


def _macro_in(session: Session, auth: PageAuth, area: Area, macro_id: int) -> Macro:
    """The macro, if it is the kind this area manages: shared ones live under /admin, the
    viewer's personal ones under /app (other people's personal macros are already 404)."""
    macro = service.get_macro(session, auth.ctx, macro_id)
    if (macro.owner_user_id is None) != area.shared:
        raise NotFound(f"Macro {macro_id} not found")
    return macro


def _changes_input(form: MacroForm) -> dict[str, Any]:
    """Blank fields are left out: applying the macro leaves them alone on the ticket."""
    data: dict[str, Any] = {}
    for name in CHANGE_FIELDS:
        value = getattr(form, name).strip()
        if value:
            data[name] = value
    tags = [tag.strip() for tag in form.add_tags.splitlines() if tag.strip()]
    if tags:
        data["add_tags"] = tags
    return data


def _validated(
    form: MacroForm, schema: type[MacroInput], shared: bool
) -> tuple[MacroInput | None, dict[str, str]]:
    """The form as the service's input schema, or errors keyed by form field."""
    errors: dict[str, str] = {}
    changes = MacroChanges()
    try:
        changes = MacroChanges.model_validate(_changes_input(form))
    except ValidationError as exc:
        errors.update(schema_errors(exc))
    raw = {
        "name": form.name,
        "body": form.body,
        "visibility": form.visibility,
        "changes": changes,
        "shared": shared,
    }
    try:
        data = schema.model_validate(raw)
    except ValidationError as exc:
        return None, {**schema_errors(exc), **errors}
    return (None, errors) if errors else (data, {})


def _service_errors(exc: DomainError) -> dict[str, str]:
    """The service names change fields `changes.team_id`; the form calls them `team_id`."""
    details = exc.details if isinstance(exc.details, list) else []
    fields = [{**d, "field": str(d.get("field", "")).removeprefix("changes.")} for d in details]
    return field_errors(ValidationFailed(exc.message, details=fields), FORM_FIELDS, "name")


def _after_save(request: Request, macro: Macro, message: str) -> Response:
    """Publishing or taking back a macro moves it to the other area's page."""
    area = _area_of(macro.owner_user_id is None)
    return redirect(request, f"{area.base_url}/{macro.id}", flash=message)


def _new_form(request: Request, session: Session, auth: PageAuth, area: Area) -> Response:
    return _edit_page(request, session, auth, area, macro=None, form=MacroForm(shared=area.shared))


def _create(
    request: Request, session: Session, auth: PageAuth, area: Area, form: MacroForm, action: str
) -> Response:
    # The admin area only creates shared macros; in the console an admin may tick "share".
    shared = True if area.shared else form.shared
    form.shared = shared
    if action == "preview":
        preview = preview_of(form.body, auth)
        return _edit_page(request, session, auth, area, macro=None, form=form, preview=preview)
    data, errors = _validated(form, MacroCreate, shared)
    if data is not None:
        try:
            macro, _ = service.create_macro(session, auth.ctx, data)
        except ValidationFailed as exc:
            errors = _service_errors(exc)
        else:
            return _after_save(request, macro, f"Macro {macro.name} created.")
    return _edit_page(
        request, session, auth, area, macro=None, form=form, errors=errors, status_code=422
    )


def _update(
    request: Request,
    session: Session,
    auth: PageAuth,
    area: Area,
    macro_id: int,
    form: MacroForm,
    action: str,
) -> Response:
    macro = _macro_in(session, auth, area, macro_id)
    if action == "preview":
        preview = preview_of(form.body, auth)
        return _edit_page(request, session, auth, area, macro=macro, form=form, preview=preview)
    data, errors = _validated(form, MacroUpdate, form.shared)
    if data is not None:
        try:
            macro = service.update_macro(session, auth.ctx, macro.id, data)
        except ValidationFailed as exc:
            errors = _service_errors(exc)
        else:
            return _after_save(request, macro, "Macro saved.")
    return _edit_page(
        request, session, auth, area, macro=macro, form=form, errors=errors, status_code=422
    )


def _edit(
    request: Request, session: Session, auth: PageAuth, area: Area, macro_id: int
) -> Response:
    macro = _macro_in(session, auth, area, macro_id)
    return _edit_page(request, session, auth, area, macro=macro, form=MacroForm.of(macro))


def _delete(
    request: Request, session: Session, auth: PageAuth, area: Area, macro_id: int
) -> Response:
    macro = _macro_in(session, auth, area, macro_id)
    name = macro.name
    service.delete_macro(session, auth.ctx, macro.id)
    return redirect(request, area.base_url, flash=f"Macro {name} deleted.")


# --- routes: shared macros (admins) --------------------------------------------------------------


@router.get("/admin/macros/new")
def new_shared_macro(request: Request, session: DbSession, auth: AdminPage) -> Response:
    return _new_form(request, session, auth, ADMIN_AREA)


@router.post("/admin/macros")
def create_shared_macro(
    request: Request,
    session: DbSession,
    auth: AdminPage,
    form: PostedForm,
    action: Action = "save",
) -> Response:
    return _create(request, session, auth, ADMIN_AREA, form, action)


@router.get("/admin/macros/{macro_id}")
def shared_macro(
    macro_id: IdPath, request: Request, session: DbSession, auth: AdminPage
) -> Response:
    return _edit(request, session, auth, ADMIN_AREA, macro_id)


@router.post("/admin/macros/{macro_id}")
def update_shared_macro(
    macro_id: IdPath,
    request: Request,
    session: DbSession,
    auth: AdminPage,
    form: PostedForm,
    action: Action = "save",
) -> Response:
    return _update(request, session, auth, ADMIN_AREA, macro_id, form, action)


@router.post("/admin/macros/{macro_id}/delete")
def delete_shared_macro(
    macro_id: IdPath, request: Request, session: DbSession, auth: AdminPage
) -> Response:
    return _delete(request, session, auth, ADMIN_AREA, macro_id)


# --- routes: my personal macros (any staff member) -----------------------------------------------


@router.get("/app/macros/new")
def new_personal_macro(request: Request, session: DbSession, auth: StaffPage) -> Response:
    return _new_form(request, session, auth, CONSOLE_AREA)


@router.post("/app/macros")
def create_personal_macro(
    request: Request,
    session: DbSession,
    auth: StaffPage,
    form: PostedForm,
    action: Action = "save",
) -> Response:
    return _create(request, session, auth, CONSOLE_AREA, form, action)


@router.get("/app/macros/{macro_id}")
def personal_macro(
    macro_id: IdPath, request: Request, session: DbSession, auth: StaffPage
) -> Response:
    return _edit(request, session, auth, CONSOLE_AREA, macro_id)


@router.post("/app/macros/{macro_id}")
def update_personal_macro(
    macro_id: IdPath,
    request: Request,
    session: DbSession,
    auth: StaffPage,
    form: PostedForm,
    action: Action = "save",
) -> Response:
    return _update(request, session, auth, CONSOLE_AREA, macro_id, form, action)


@router.post("/app/macros/{macro_id}/delete")
def delete_personal_macro(
    macro_id: IdPath, request: Request, session: DbSession, auth: StaffPage
) -> Response:
    return _delete(request, session, auth, CONSOLE_AREA, macro_id)
