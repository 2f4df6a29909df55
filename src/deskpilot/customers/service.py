"""Organizations and contacts: queries and commands."""

from __future__ import annotations

from sqlalchemy import func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from deskpilot.core.context import Context
from deskpilot.core.errors import Conflict, NotFound, ValidationFailed
from deskpilot.core.pagination import DEFAULT_PAGE_SIZE
from deskpilot.customers.models import Contact, Organization
from deskpilot.customers.schemas import (
    ContactCreate,
    ContactUpdate,
    OrganizationCreate,
    OrganizationUpdate,
)
from deskpilot.db.pagination import keyset_page
from deskpilot.db.scoped import get_scoped, scoped
from deskpilot.idempotency import service as idempotency


def normalize_email(email: str) -> str:
    return email.strip().lower()


def email_domain(email: str) -> str:
    return email.rsplit("@", 1)[-1].lower()


def find_contact_by_email(session: Session, ctx: Context, email: str) -> Contact | None:
    return session.scalars(
        scoped(ctx, Contact).where(Contact.email == normalize_email(email))
    ).one_or_none()


def find_organization_by_domain(session: Session, ctx: Context, domain: str) -> Organization | None:
    return session.scalars(
        scoped(ctx, Organization).where(func.lower(Organization.domain) == domain.lower()).limit(1)
    ).first()


def find_or_create_contact(
    session: Session, ctx: Context, *, email: str, name: str | None = None
) -> Contact:
    """The requester of an incoming ticket: matched by email, created on first contact.

    A new contact joins the organization whose domain matches its email. Concurrent first
    tickets from one address converge on one contact through the unique (workspace, email) key.
    """
    email = normalize_email(email)
    contact = find_contact_by_email(session, ctx, email)
    if contact is not None:
        if name and not contact.name:
            contact.name = name
        return contact
    org = find_organization_by_domain(session, ctx, email_domain(email))
    contact = Contact(
        workspace_id=ctx.workspace_id,
        email=email,
        name=name or "",
        organization_id=org.id if org else None,
    )
    try:
        with session.begin_nested():
            session.add(contact)
    except IntegrityError:
        existing = find_contact_by_email(session, ctx, email)
        if existing is None:  # pragma: no cover - the violation implies the row exists
            raise
        return existing
    return contact


def get_organization(
    session: Session, ctx: Context, organization_id: int, *, for_update: bool = False
) -> Organization:
    ctx.require_staff()
    return get_scoped(
        session, ctx, Organization, organization_id, for_update=for_update, what="Organization"
    )


def list_organizations(
    session: Session,
    ctx: Context,
    *,
    q: str | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
) -> tuple[list[Organization], str | None]:
    """Organizations in id order; `q` matches name or domain, case-insensitively."""
    ctx.require_staff()
    stmt = scoped(ctx, Organization)
    if q:
        stmt = stmt.where(
            or_(
                Organization.name.icontains(q, autoescape=True),
                Organization.domain.icontains(q, autoescape=True),
            )
        )
    return keyset_page(session, stmt, Organization.id, limit=limit, cursor=cursor)


def create_organization(session: Session, ctx: Context, data: OrganizationCreate) -> Organization:
    organization, _ = create_organization_with_key(session, ctx, data, idempotency_key=None)
    return organization


def create_organization_with_key(
    session: Session, ctx: Context, data: OrganizationCreate, *, idempotency_key: str | None
) -> tuple[Organization, bool]:
    """Returns (organization, created); a replayed Idempotency-Key returns the first one."""
    ctx.require_staff()
    claim = idempotency.claim(
        session,
        ctx,
        scope="organizations.create",
        key=idempotency_key,
        payload=data.model_dump(mode="json"),
    )
    if claim.existing_id is not None:
        return get_organization(session, ctx, claim.existing_id), False
    _check_domain_free(session, ctx, data.domain)
    organization = Organization(workspace_id=ctx.workspace_id, **data.model_dump())
    session.add(organization)
    session.flush()
    claim.bind(organization.id)
    return organization, True


def update_organization(
    session: Session, ctx: Context, organization_id: int, data: OrganizationUpdate
) -> Organization:
    organization = get_organization(session, ctx, organization_id, for_update=True)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("domain") and changes["domain"] != organization.domain:
        _check_domain_free(session, ctx, changes["domain"], exclude_id=organization.id)
    for field, value in changes.items():
        setattr(organization, field, value)
    session.flush()
    return organization


def delete_organization(session: Session, ctx: Context, organization_id: int) -> None:
    """Its contacts stay, without an organization; tickets keep their history but lose the link."""
    organization = get_organization(session, ctx, organization_id, for_update=True)
    session.execute(
        update(Contact)
        .where(Contact.workspace_id == ctx.workspace_id, Contact.organization_id == organization.id)
        .values(organization_id=None)
    )
    session.delete(organization)
    session.flush()


def _check_domain_free(
    session: Session, ctx: Context, domain: str | None, *, exclude_id: int | None = None
) -> None:
    # New contacts join an organization by email domain, so a domain must name one organization.
    if not domain:
        return
    existing = find_organization_by_domain(session, ctx, domain)
    if existing is not None and existing.id != exclude_id:
        raise Conflict(
            f"Domain {domain} already belongs to organization {existing.id}",
            details=[{"field": "domain", "message": f"used by organization {existing.id}"}],
        )


def _require_organization_ref(session: Session, ctx: Context, organization_id: int) -> None:
    """An organization id in a request body: unknown or foreign is a 422 on the field."""
    try:
        get_scoped(session, ctx, Organization, organization_id)
    except NotFound as exc:
        raise ValidationFailed(
            "Unknown organization",
            details=[{"field": "organization_id", "message": "no organization with this id"}],
        ) from exc


# --- contacts ------------------------------------------------------------------------------------


def get_contact(
    session: Session, ctx: Context, contact_id: int, *, for_update: bool = False
) -> Contact:
    ctx.require_staff()
    return get_scoped(session, ctx, Contact, contact_id, for_update=for_update, what="Contact")


def list_contacts(
    session: Session,
    ctx: Context,
    *,
    q: str | None = None,
    organization_id: int | None = None,
    email: str | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
) -> tuple[list[Contact], str | None]:
    """Contacts in id order; `q` matches name or email, `email` is an exact (normalized) match."""
    ctx.require_staff()
    stmt = scoped(ctx, Contact)
    if q:
        stmt = stmt.where(
            or_(
                Contact.name.icontains(q, autoescape=True),
                Contact.email.icontains(q, autoescape=True),
            )
        )
    if organization_id is not None:
        stmt = stmt.where(Contact.organization_id == organization_id)
    if email:
        stmt = stmt.where(Contact.email == normalize_email(email))
    return keyset_page(session, stmt, Contact.id, limit=limit, cursor=cursor)


def create_contact(session: Session, ctx: Context, data: ContactCreate) -> Contact:
    contact, _ = create_contact_with_key(session, ctx, data, idempotency_key=None)
    return contact


def create_contact_with_key(
    session: Session, ctx: Context, data: ContactCreate, *, idempotency_key: str | None
) -> tuple[Contact, bool]:
    """Returns (contact, created). Without `organization_id` the contact joins by email domain."""
    ctx.require_staff()
    claim = idempotency.claim(
        session,
        ctx,
        scope="contacts.create",
        key=idempotency_key,
        payload=data.model_dump(mode="json", exclude_unset=True),
    )
    if claim.existing_id is not None:
        return get_contact(session, ctx, claim.existing_id), False
    email = normalize_email(str(data.email))
    if find_contact_by_email(session, ctx, email) is not None:
        raise _email_taken(email)
    if "organization_id" in data.model_fields_set:
        organization_id = data.organization_id
        if organization_id is not None:
            _require_organization_ref(session, ctx, organization_id)
    else:
        org = find_organization_by_domain(session, ctx, email_domain(email))
        organization_id = org.id if org else None
    contact = Contact(
        workspace_id=ctx.workspace_id,
        email=email,
        name=data.name or "",
        phone=data.phone,
        organization_id=organization_id,
        crm_id=data.crm_id,
    )
    try:
        with session.begin_nested():
            session.add(contact)
    except IntegrityError as exc:
        # Someone created the same address concurrently; the unique key decided.
        raise _email_taken(email) from exc
    claim.bind(contact.id)
    return contact, True


def update_contact(session: Session, ctx: Context, contact_id: int, data: ContactUpdate) -> Contact:
    contact = get_contact(session, ctx, contact_id, for_update=True)
    changes = data.model_dump(exclude_unset=True)
    if "email" in changes:
        changes["email"] = normalize_email(changes["email"])
        taken = find_contact_by_email(session, ctx, changes["email"])
        if taken is not None and taken.id != contact.id:
            raise _email_taken(changes["email"])
    if changes.get("organization_id") is not None:
        _require_organization_ref(session, ctx, changes["organization_id"])
    try:
        with session.begin_nested():
            for field, value in changes.items():
                setattr(contact, field, value)
    except IntegrityError as exc:
        raise _email_taken(str(changes.get("email", ""))) from exc
    return contact


def delete_contact(session: Session, ctx: Context, contact_id: int) -> None:
    """Tickets keep their history without a requester; a portal login loses its contact link."""
    contact = get_contact(session, ctx, contact_id, for_update=True)
    session.delete(contact)
    session.flush()


def _email_taken(email: str) -> Conflict:
    return Conflict(
        f"A contact with email {email} already exists",
        details=[{"field": "email", "message": "already used by another contact"}],
    )
