"""Organizations and contacts: queries and commands."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from deskpilot.core.context import Context
from deskpilot.customers.models import Contact, Organization
from deskpilot.db.scoped import scoped


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


def get_contact_ids_for_organization(
    session: Session, ctx: Context, organization_id: int
) -> list[int]:
    return list(
        session.scalars(
            select(Contact.id).where(
                Contact.workspace_id == ctx.workspace_id, Contact.organization_id == organization_id
            )
        )
    )
