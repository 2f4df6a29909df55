"""Organization pages for staff: /app/organizations (list, search, create) and one organization
(edit every field, its contacts, delete).

Every write goes through `customers.service`, like `/api/v1/organizations`, so the same rules
apply: a domain names one organization (409 on the field otherwise), and deleting an organization
keeps its contacts, without an organization. Forms post and redirect without JavaScript; the
search box refreshes only the table with htmx.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from deskpilot.core.errors import Conflict, DomainError, ValidationFailed
from deskpilot.core.pagination import MAX_PAGE_SIZE
from deskpilot.customers import service
from deskpilot.customers.models import Contact, Organization
from deskpilot.customers.schemas import OrganizationCreate, OrganizationUpdate
from deskpilot.web.deps import DbSession
from deskpilot.web.page_deps import PageAuth, StaffPage, redirect
from deskpilot.web.params import IdPath
from deskpilot.web.routing import TransactionalRoute
from deskpilot.web.templating import PageContext, render
from deskpilot.workspaces.team_pages import field_errors, schema_errors

router = APIRouter(tags=["pages"], route_class=TransactionalRoute, include_in_schema=False)

LIST_PAGE_SIZE = 50
CONTACTS_SHOWN = 50
NAV = "customers"
ORGANIZATION_FIELDS = ("name", "domain", "tier", "mrr", "external_id", "crm_id")
# The contact form's organization select lists every organization; beyond this many the
# workspace should search instead, and the form shows the first ones by id.
ORGANIZATION_OPTIONS_LIMIT = 1000

SearchQuery = Annotated[str, Query(max_length=200)]
CursorQuery = Annotated[str | None, Query(max_length=512)]


def first_page_on_bad_cursor(listed: Any, cursor: str | None) -> tuple[list[Any], str | None]:
    """One page of a service list; a cursor that does not parse starts from the top."""
    try:
        rows, next_cursor = listed(cursor=cursor)
    except ValidationFailed:
        rows, next_cursor = listed()
    return list(rows), next_cursor


def organization_options(session: Session, auth: PageAuth) -> list[tuple[str, str]]:
    """(id, name) of the workspace's organizations, by name, for the contact form's select."""
    options: list[tuple[str, str]] = []
    cursor: str | None = None
    while len(options) < ORGANIZATION_OPTIONS_LIMIT:
        rows, cursor = service.list_organizations(
            session, auth.ctx, limit=MAX_PAGE_SIZE, cursor=cursor
        )
        options += [(str(o.id), o.name) for o in rows]
        if cursor is None:
            break
    return sorted(options, key=lambda option: (option[1].lower(), int(option[0])))


def money(value: Any) -> str:
    return f"{value:,.2f}" if value is not None else ""


# --- the list ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrganizationRow:
    id: int
    name: str
    domain: str
    tier: str
    mrr: str
    updated_at: datetime


@dataclass(kw_only=True)
class OrganizationListPage(PageContext):
    rows: list[OrganizationRow]
    q: str = ""
    next_url: str = ""


@router.get("/app/organizations")
def organizations(
    request: Request,
    session: DbSession,
    auth: StaffPage,
    q: SearchQuery = "",
    cursor: CursorQuery = None,
) -> Response:
    query = q.strip()
    listed = partial(
        service.list_organizations, session, auth.ctx, q=query or None, limit=LIST_PAGE_SIZE
    )
    found, next_cursor = first_page_on_bad_cursor(listed, cursor)
    rows = [
        OrganizationRow(o.id, o.name, o.domain or "", o.tier or "", money(o.mrr), o.updated_at)
        for o in found
    ]
    next_url = ""
    if next_cursor:
        next_url = "/app/organizations?" + urlencode({"q": query, "cursor": next_cursor})
    page = OrganizationListPage(
        title="Organizations", viewer=auth.viewer, nav=NAV, rows=rows, q=query, next_url=next_url
    )
    return render(
        request,
        "customers/organization_list.html",
        page,
        partial="customers/_organization_rows.html",
    )


# --- the form ------------------------------------------------------------------------------------


@dataclass
class OrganizationForm:
    """The organization as the form shows it: every value as typed."""

    name: str = ""
    domain: str = ""
    tier: str = ""
    mrr: str = ""
    external_id: str = ""
    crm_id: str = ""

    @classmethod
    def of(cls, org: Organization) -> OrganizationForm:
        return cls(
            name=org.name,
            domain=org.domain or "",
            tier=org.tier or "",
            mrr=str(org.mrr) if org.mrr is not None else "",
            external_id=org.external_id or "",
            crm_id=org.crm_id or "",
        )

    def as_input(self) -> dict[str, Any]:
        """Every field, a blank optional one as null (it clears the stored value on save)."""
        data: dict[str, Any] = {"name": self.name}
        for name in ORGANIZATION_FIELDS[1:]:
            value = getattr(self, name).strip()
            data[name] = value or None
        return data


Text = Annotated[str, Form(max_length=400)]


def organization_form(
    name: Text = "",
    domain: Text = "",
    tier: Text = "",
    mrr: Text = "",
    external_id: Text = "",
    crm_id: Text = "",
) -> OrganizationForm:
    return OrganizationForm(name, domain, tier, mrr, external_id, crm_id)


PostedOrganization = Annotated[OrganizationForm, Depends(organization_form)]


@dataclass(frozen=True)
class ContactRow:
    id: int
    name: str
    email: str


@dataclass(kw_only=True)
class OrganizationEditPage(PageContext):
    organization_id: int | None
    form: OrganizationForm
    errors: dict[str, str] = field(default_factory=dict)
    contacts: list[ContactRow] = field(default_factory=list)
    more_contacts: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def is_new(self) -> bool:
        return self.organization_id is None

    @property
    def form_url(self) -> str:
        base = "/app/organizations"
        return base if self.is_new else f"{base}/{self.organization_id}"


def _edit_page(
    request: Request,
    session: Session,
    auth: PageAuth,
    *,
    org: Organization | None,
    form: OrganizationForm,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    contacts: list[Contact] = []
    more = False
    if org is not None:
        contacts, next_cursor = service.list_contacts(
            session, auth.ctx, organization_id=org.id, limit=CONTACTS_SHOWN
        )
        more = next_cursor is not None
    page = OrganizationEditPage(
        title=f"Organization {org.name}" if org else "New organization",
        viewer=auth.viewer,
        nav=NAV,
        organization_id=org.id if org else None,
        form=form,
        errors=errors or {},
        contacts=[ContactRow(c.id, c.name, c.email) for c in contacts],
        more_contacts=more,
        created_at=org.created_at if org else None,
        updated_at=org.updated_at if org else None,
    )
    return render(request, "customers/organization_edit.html", page, status_code=status_code)


def _service_errors(exc: DomainError) -> dict[str, str]:
    return field_errors(exc, ORGANIZATION_FIELDS, "form")


@router.get("/app/organizations/new")
def new_organization(request: Request, session: DbSession, auth: StaffPage) -> Response:
    return _edit_page(request, session, auth, org=None, form=OrganizationForm())


@router.post("/app/organizations")
def create_organization(
    request: Request, session: DbSession, auth: StaffPage, form: PostedOrganization
) -> Response:
    status_code = 422
    try:
        data = OrganizationCreate.model_validate(form.as_input())
    except ValidationError as exc:
        errors = schema_errors(exc)
    else:
        try:
            org = service.create_organization(session, auth.ctx, data)
        except (ValidationFailed, Conflict) as exc:
            errors, status_code = _service_errors(exc), exc.status
        else:
            return redirect(
                request, f"/app/organizations/{org.id}", flash=f"Organization {org.name} created."
            )
    return _edit_page(
        request, session, auth, org=None, form=form, errors=errors, status_code=status_code
    )


@router.get("/app/organizations/{organization_id}")
def organization(
    organization_id: IdPath, request: Request, session: DbSession, auth: StaffPage
) -> Response:
    org = service.get_organization(session, auth.ctx, organization_id)
    return _edit_page(request, session, auth, org=org, form=OrganizationForm.of(org))


@router.post("/app/organizations/{organization_id}")
def update_organization(
    organization_id: IdPath,
    request: Request,
    session: DbSession,
    auth: StaffPage,
    form: PostedOrganization,
) -> Response:
    org = service.get_organization(session, auth.ctx, organization_id)
    status_code = 422
    try:
        data = OrganizationUpdate.model_validate(form.as_input())
    except ValidationError as exc:
        errors = schema_errors(exc)
    else:
        try:
            org = service.update_organization(session, auth.ctx, org.id, data)
        except (ValidationFailed, Conflict) as exc:
            errors, status_code = _service_errors(exc), exc.status
        else:
            return redirect(request, f"/app/organizations/{org.id}", flash="Organization saved.")
    return _edit_page(
        request, session, auth, org=org, form=form, errors=errors, status_code=status_code
    )


@router.post("/app/organizations/{organization_id}/delete")
def delete_organization(
    organization_id: IdPath, request: Request, session: DbSession, auth: StaffPage
) -> Response:
    org = service.get_organization(session, auth.ctx, organization_id)
    name = org.name
    try:
        service.delete_organization(session, auth.ctx, org.id)
    except Conflict as exc:
        errors = {"delete": exc.message}
        return _edit_page(
            request,
            session,
            auth,
            org=org,
            form=OrganizationForm.of(org),
            errors=errors,
            status_code=exc.status,
        )
    return redirect(request, "/app/organizations", flash=f"Organization {name} deleted.")
