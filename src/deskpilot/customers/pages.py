"""Customer pages for staff: contacts under /app/customers, organizations under /app/organizations
(in `organization_pages`, included here so the app registers one router).

Agents, admins and owners may do everything here, exactly as `customers.service` allows them on
`/api/v1/contacts`; every write goes through that service, so email uniqueness (409), unknown or
foreign organization ids (422 on the field) and tenancy stay in one place. Forms post and
redirect without JavaScript; the search box refreshes only the table with htmx.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from deskpilot.core.errors import Conflict, DomainError, ValidationFailed
from deskpilot.customers import service
from deskpilot.customers.models import Contact
from deskpilot.customers.organization_pages import (
    NAV,
    CursorQuery,
    SearchQuery,
    first_page_on_bad_cursor,
    organization_options,
)
from deskpilot.customers.organization_pages import router as organization_router
from deskpilot.customers.schemas import ContactCreate, ContactUpdate
from deskpilot.tickets import listing
from deskpilot.web.deps import DbSession
from deskpilot.web.page_deps import PageAuth, StaffPage, redirect
from deskpilot.web.params import IdPath, OptionalIdQuery
from deskpilot.web.routing import TransactionalRoute
from deskpilot.web.templating import PageContext, render
from deskpilot.workspaces.team_pages import field_errors, schema_errors

router = APIRouter(tags=["pages"], route_class=TransactionalRoute, include_in_schema=False)
router.include_router(organization_router)

LIST_PAGE_SIZE = 50
RECENT_TICKETS = 10
CONTACT_FIELDS = ("email", "name", "phone", "organization_id", "crm_id")
# The new-contact form's organization choice: blank joins by email domain, like the API when
# `organization_id` is omitted; this value asks for no organization at all.
NO_ORGANIZATION = "none"


# --- the list ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContactRow:
    id: int
    name: str
    email: str
    phone: str
    organization_id: int | None
    organization_name: str
    updated_at: datetime


@dataclass(kw_only=True)
class ContactListPage(PageContext):
    rows: list[ContactRow]
    q: str = ""
    organization_id: int | None = None
    organization_name: str = ""
    next_url: str = ""


@router.get("/app/customers")
def contacts(
    request: Request,
    session: DbSession,
    auth: StaffPage,
    q: SearchQuery = "",
    organization_id: OptionalIdQuery = None,
    cursor: CursorQuery = None,
) -> Response:
    query = q.strip()
    organization_name = ""
    if organization_id is not None:
        # Another workspace's organization is not found, as everywhere.
        organization_name = service.get_organization(session, auth.ctx, organization_id).name
    listed = partial(
        service.list_contacts,
        session,
        auth.ctx,
        q=query or None,
        organization_id=organization_id,
        limit=LIST_PAGE_SIZE,
    )
    found, next_cursor = first_page_on_bad_cursor(listed, cursor)
    names = dict(organization_options(session, auth))
    rows = [
        ContactRow(
            c.id,
            c.name,
            c.email,
            c.phone or "",
            c.organization_id,
            names.get(str(c.organization_id), "") if c.organization_id else "",
            c.updated_at,
        )
        for c in found
    ]
    next_url = ""
    if next_cursor:
        params: dict[str, Any] = {"q": query, "cursor": next_cursor}
        if organization_id is not None:
            params["organization_id"] = organization_id
        next_url = "/app/customers?" + urlencode(params)
    page = ContactListPage(
        title="Customers",
        viewer=auth.viewer,
        nav=NAV,
        rows=rows,
        q=query,
        organization_id=organization_id,
        organization_name=organization_name,
        next_url=next_url,
    )
    return render(
        request, "customers/contact_list.html", page, partial="customers/_contact_rows.html"
    )


# --- the form ------------------------------------------------------------------------------------


@dataclass
class ContactForm:
    """The contact as the form shows it: every value as typed."""

    email: str = ""
    name: str = ""
    phone: str = ""
    organization_id: str = ""
    crm_id: str = ""

    @classmethod
    def of(cls, contact: Contact) -> ContactForm:
        return cls(
            email=contact.email,
            name=contact.name,
            phone=contact.phone or "",
            organization_id=str(contact.organization_id or ""),
            crm_id=contact.crm_id or "",
        )

    def as_update(self) -> dict[str, Any]:
        """Every field; a blank phone, CRM id or organization clears the stored value."""
        return {
            "email": self.email.strip(),
            "name": self.name,
            "phone": self.phone.strip() or None,
            "organization_id": self.organization_id.strip() or None,
            "crm_id": self.crm_id.strip() or None,
        }

    def as_create(self) -> dict[str, Any]:
        """Without a chosen organization the service matches one by the email's domain."""
        data = self.as_update()
        choice = self.organization_id.strip()
        if not choice:
            del data["organization_id"]
        elif choice == NO_ORGANIZATION:
            data["organization_id"] = None
        return data


Text = Annotated[str, Form(max_length=400)]


def contact_form(
    email: Text = "",
    name: Text = "",
    phone: Text = "",
    organization_id: Text = "",
    crm_id: Text = "",
) -> ContactForm:
    return ContactForm(email, name, phone, organization_id, crm_id)


PostedContact = Annotated[ContactForm, Depends(contact_form)]


@dataclass(frozen=True)
class TicketRow:
    number: int
    subject: str
    status: str
    created_at: datetime


@dataclass(kw_only=True)
class ContactEditPage(PageContext):
    contact_id: int | None
    form: ContactForm
    organizations: list[tuple[str, str]]
    errors: dict[str, str] = field(default_factory=dict)
    organization_name: str = ""
    saved_organization_id: int | None = None
    tickets: list[TicketRow] = field(default_factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def is_new(self) -> bool:
        return self.contact_id is None

    @property
    def organization_choices(self) -> list[tuple[str, str]]:
        """A new contact may also ask for no organization; blank then means "by domain"."""
        if self.is_new:
            return [(NO_ORGANIZATION, "No organization"), *self.organizations]
        return self.organizations

    @property
    def form_url(self) -> str:
        return "/app/customers" if self.is_new else f"/app/customers/{self.contact_id}"


def _with_posted(options: list[tuple[str, str]], value: str) -> list[tuple[str, str]]:
    """The options plus a posted id that is not among them, kept selected next to its error."""
    value = value.strip()
    if value and value != NO_ORGANIZATION and value not in {option for option, _ in options}:
        return [*options, (value, f"#{value} (unknown)")]
    return options


def _recent_tickets(session: Session, auth: PageAuth, contact: Contact) -> list[TicketRow]:
    """Newest first, as on the ticket page's requester panel."""
    tickets, _ = listing.list_tickets(
        session,
        auth.ctx,
        listing.TicketFilters(requester_id=contact.id),
        sort="-created_at",
        limit=RECENT_TICKETS,
    )
    return [TicketRow(t.number, t.subject, t.status, t.created_at) for t in tickets]


def _edit_page(
    request: Request,
    session: Session,
    auth: PageAuth,
    *,
    contact: Contact | None,
    form: ContactForm,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    options = organization_options(session, auth)
    saved_org = contact.organization_id if contact else None
    page = ContactEditPage(
        title=f"Contact {contact.name or contact.email}" if contact else "New contact",
        viewer=auth.viewer,
        nav=NAV,
        contact_id=contact.id if contact else None,
        form=form,
        organizations=_with_posted(options, form.organization_id),
        errors=errors or {},
        organization_name=dict(options).get(str(saved_org), "") if saved_org else "",
        saved_organization_id=saved_org,
        tickets=_recent_tickets(session, auth, contact) if contact else [],
        created_at=contact.created_at if contact else None,
        updated_at=contact.updated_at if contact else None,
    )
    return render(request, "customers/contact_edit.html", page, status_code=status_code)


def _service_errors(exc: DomainError) -> dict[str, str]:
    return field_errors(exc, CONTACT_FIELDS, "form")


@router.get("/app/customers/new")
def new_contact(request: Request, session: DbSession, auth: StaffPage) -> Response:
    return _edit_page(request, session, auth, contact=None, form=ContactForm())


@router.post("/app/customers")
def create_contact(
    request: Request, session: DbSession, auth: StaffPage, form: PostedContact
) -> Response:
    status_code = 422
    try:
        data = ContactCreate.model_validate(form.as_create())
    except ValidationError as exc:
        errors = schema_errors(exc)
    else:
        try:
            contact = service.create_contact(session, auth.ctx, data)
        except (ValidationFailed, Conflict) as exc:
            errors, status_code = _service_errors(exc), exc.status
        else:
            label = contact.name or contact.email
            return redirect(
                request, f"/app/customers/{contact.id}", flash=f"Contact {label} created."
            )
    return _edit_page(
        request, session, auth, contact=None, form=form, errors=errors, status_code=status_code
    )


def _contact(session: Session, auth: PageAuth, contact_id: int) -> Contact:
    return service.get_contact(session, auth.ctx, contact_id)


@router.get("/app/customers/{contact_id}")
def contact(contact_id: IdPath, request: Request, session: DbSession, auth: StaffPage) -> Response:
    found = _contact(session, auth, contact_id)
    return _edit_page(request, session, auth, contact=found, form=ContactForm.of(found))


@router.post("/app/customers/{contact_id}")
def update_contact(
    contact_id: IdPath,
    request: Request,
    session: DbSession,
    auth: StaffPage,
    form: PostedContact,
) -> Response:
    found = _contact(session, auth, contact_id)
    status_code = 422
    try:
        data = ContactUpdate.model_validate(form.as_update())
    except ValidationError as exc:
        errors = schema_errors(exc)
    else:
        try:
            found = service.update_contact(session, auth.ctx, found.id, data)
        except (ValidationFailed, Conflict) as exc:
            errors, status_code = _service_errors(exc), exc.status
        else:
            return redirect(request, f"/app/customers/{found.id}", flash="Contact saved.")
    return _edit_page(
        request, session, auth, contact=found, form=form, errors=errors, status_code=status_code
    )


@router.post("/app/customers/{contact_id}/delete")
def delete_contact(
    contact_id: IdPath, request: Request, session: DbSession, auth: StaffPage
) -> Response:
    found = _contact(session, auth, contact_id)
    label = found.name or found.email
    try:
        service.delete_contact(session, auth.ctx, found.id)
    except Conflict as exc:
        return _edit_page(
            request,
            session,
            auth,
            contact=found,
            form=ContactForm.of(found),
            errors={"delete": exc.message},
            status_code=exc.status,
        )
    return redirect(request, "/app/customers", flash=f"Contact {label} deleted.")
