"""Organizations and contacts: CRUD, partial updates, references, conflicts, paging, tenancy."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from deskpilot.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from deskpilot.customers import service
from deskpilot.customers.models import Contact, Organization
from deskpilot.customers.schemas import (
    ContactCreate,
    ContactUpdate,
    OrganizationCreate,
    OrganizationUpdate,
)
from deskpilot.idempotency.models import IdempotencyKey
from tests.factories import Personas, make_ticket


def org(name: str = "Initech", **fields: object) -> OrganizationCreate:
    return OrganizationCreate.model_validate({"name": name, **fields})


def contact(email: str, **fields: object) -> ContactCreate:
    return ContactCreate.model_validate({"email": email, **fields})


def field_of(exc: pytest.ExceptionInfo[ValidationFailed] | pytest.ExceptionInfo[Conflict]) -> str:
    details = exc.value.details
    assert isinstance(details, list)
    return str(details[0]["field"])


# --- organizations -------------------------------------------------------------------------------


def test_create_and_get_organization(session: Session, personas: Personas) -> None:
    ctx = personas.ann.ctx
    created = service.create_organization(
        session,
        ctx,
        org(
            "Initech",
            domain="Initech.Example.COM.",
            tier="enterprise",
            mrr="1200.50",
            external_id="ext-1",
            crm_id="crm-1",
        ),
    )
    session.commit()
    fetched = service.get_organization(session, ctx, created.id)
    assert fetched.workspace_id == personas.ann.workspace_id
    assert (fetched.name, fetched.domain, fetched.tier) == (
        "Initech",
        "initech.example.com",
        "enterprise",
    )
    assert fetched.mrr == Decimal("1200.50")
    assert (fetched.external_id, fetched.crm_id) == ("ext-1", "crm-1")


def test_update_organization_changes_only_the_fields_sent(
    session: Session, personas: Personas
) -> None:
    ctx = personas.ann.ctx
    created = service.create_organization(
        session, ctx, org("Initech", domain="initech.example.com", tier="gold", mrr="10")
    )
    updated = service.update_organization(
        session, ctx, created.id, OrganizationUpdate(name="Initech Ltd", tier=None)
    )
    assert updated.name == "Initech Ltd"
    assert updated.tier is None  # explicit null clears an optional field
    assert updated.domain == "initech.example.com"  # omitted fields are kept
    assert updated.mrr == Decimal("10")


def test_update_cannot_null_the_organization_name() -> None:
    with pytest.raises(ValidationError) as exc:
        OrganizationUpdate.model_validate({"name": None})
    assert exc.value.errors()[0]["loc"] == ("name",)


def test_domains_name_one_organization(session: Session, personas: Personas) -> None:
    ctx = personas.ann.ctx
    first = service.create_organization(session, ctx, org("A", domain="shared.example.com"))
    with pytest.raises(Conflict) as exc:
        service.create_organization(session, ctx, org("B", domain="SHARED.example.com"))
    assert field_of(exc) == "domain"
    other = service.create_organization(session, ctx, org("B", domain="b.example.com"))
    with pytest.raises(Conflict):
        service.update_organization(
            session, ctx, other.id, OrganizationUpdate(domain="shared.example.com")
        )
    # Re-saving an organization's own domain is not a conflict with itself.
    service.update_organization(
        session, ctx, first.id, OrganizationUpdate(domain="shared.example.com")
    )
    # Another workspace may use the same domain.
    service.create_organization(session, personas.gina.ctx, org("G", domain="shared.example.com"))


def test_delete_organization_keeps_its_contacts_and_tickets(
    session: Session, personas: Personas
) -> None:
    ctx = personas.ann.ctx
    created = service.create_organization(
        session, ctx, org("Initech", domain="initech.example.com")
    )
    ticket = make_ticket(session, ctx, requester={"email": "pat@initech.example.com"})
    assert ticket.organization_id == created.id
    person = service.find_contact_by_email(session, ctx, "pat@initech.example.com")
    assert person is not None
    assert person.organization_id == created.id
    session.commit()

    service.delete_organization(session, ctx, created.id)
    session.commit()
    session.expire_all()
    with pytest.raises(NotFound):
        service.get_organization(session, ctx, created.id)
    assert service.get_contact(session, ctx, person.id).organization_id is None
    session.refresh(ticket)
    assert ticket.organization_id is None


def test_list_organizations_filters_by_name_or_domain(session: Session, personas: Personas) -> None:
    ctx = personas.ann.ctx
    a = service.create_organization(session, ctx, org("Alpha Corp", domain="alpha.example.com"))
    b = service.create_organization(session, ctx, org("Beta", domain="betacorp.example.org"))
    service.create_organization(session, ctx, org("Gamma", domain="gamma.example.net"))
    service.create_organization(session, ctx, org("100%_real"))

    rows, _ = service.list_organizations(session, ctx, q="CORP", limit=50, cursor=None)
    assert [o.id for o in rows] == [a.id, b.id]
    rows, _ = service.list_organizations(session, ctx, q="%_", limit=50, cursor=None)
    assert [o.name for o in rows] == ["100%_real"]  # LIKE wildcards are matched literally


def test_organization_cursor_walks_every_row_once(session: Session, personas: Personas) -> None:
    ctx = personas.ann.ctx
    ids = [service.create_organization(session, ctx, org(f"Org {i}")).id for i in range(7)]
    service.create_organization(session, personas.gina.ctx, org("Globex customer"))
    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        rows, cursor = service.list_organizations(session, ctx, q=None, limit=3, cursor=cursor)
        seen += [o.id for o in rows]
        pages += 1
        if cursor is None:
            break
    assert seen == sorted(ids)
    assert pages == 3


def test_bad_cursor_is_a_422_on_cursor(session: Session, personas: Personas) -> None:
    with pytest.raises(ValidationFailed) as exc:
        service.list_organizations(session, personas.ann.ctx, q=None, limit=3, cursor="WyJ4Il0")
    assert field_of(exc) == "cursor"


def test_customers_cannot_manage_organizations(session: Session, personas: Personas) -> None:
    ctx = personas.carol.ctx
    with pytest.raises(PermissionDenied):
        service.create_organization(session, ctx, org())
    with pytest.raises(PermissionDenied):
        service.list_organizations(session, ctx, q=None, limit=10, cursor=None)
    with pytest.raises(PermissionDenied):
        service.list_contacts(session, ctx)


def test_other_workspaces_organizations_are_invisible(session: Session, personas: Personas) -> None:
    acme = service.create_organization(session, personas.ann.ctx, org("Acme customer"))
    globex = personas.gina.ctx
    with pytest.raises(NotFound):
        service.get_organization(session, globex, acme.id)
    with pytest.raises(NotFound):
        service.update_organization(session, globex, acme.id, OrganizationUpdate(name="x"))
    with pytest.raises(NotFound):
        service.delete_organization(session, globex, acme.id)
    rows, _ = service.list_organizations(session, globex, q=None, limit=100, cursor=None)
    assert acme.id not in [o.id for o in rows]


def test_replayed_idempotency_key_returns_the_first_organization(
    session: Session, personas: Personas
) -> None:
    ctx = personas.ann.ctx
    first, created = service.create_organization_with_key(
        session, ctx, org("Initech"), idempotency_key="k-1"
    )
    again, created_again = service.create_organization_with_key(
        session, ctx, org("Initech"), idempotency_key="k-1"
    )
    assert (created, created_again) == (True, False)
    assert again.id == first.id
    count = session.scalar(select(func.count()).select_from(Organization))
    assert count == 1
    with pytest.raises(Conflict):
        service.create_organization_with_key(session, ctx, org("Other"), idempotency_key="k-1")
    keys = session.scalars(select(IdempotencyKey)).all()
    assert [(k.scope, k.resource_id) for k in keys] == [
        (f"organizations.create:user:{ctx.user_id}", first.id)
    ]


# --- contacts ------------------------------------------------------------------------------------


def test_new_contact_joins_organization_by_email_domain(
    session: Session, personas: Personas
) -> None:
    ctx = personas.ann.ctx
    initech = service.create_organization(
        session, ctx, org("Initech", domain="initech.example.com")
    )
    joined = service.create_contact(session, ctx, contact("Pat@Initech.example.com", name="Pat"))
    assert (joined.email, joined.name, joined.organization_id) == (
        "pat@initech.example.com",
        "Pat",
        initech.id,
    )
    unlinked = service.create_contact(
        session, ctx, contact("sam@initech.example.com", organization_id=None)
    )
    assert unlinked.organization_id is None  # an explicit null opts out of the domain match
    other = service.create_organization(session, ctx, org("Other"))
    chosen = service.create_contact(
        session, ctx, contact("lee@initech.example.com", organization_id=other.id, phone="+1 555")
    )
    assert (chosen.organization_id, chosen.phone) == (other.id, "+1 555")
    loner = service.create_contact(session, ctx, contact("kim@elsewhere.example.com"))
    assert loner.organization_id is None


def test_duplicate_contact_email_is_a_conflict(session: Session, personas: Personas) -> None:
    ctx = personas.ann.ctx
    service.create_contact(session, ctx, contact("pat@example.com"))
    with pytest.raises(Conflict) as exc:
        service.create_contact(session, ctx, contact("PAT@example.com"))
    assert field_of(exc) == "email"
    # The same address is a different contact in another workspace.
    service.create_contact(session, personas.gina.ctx, contact("pat@example.com"))


def test_contact_organization_must_be_in_the_workspace(
    session: Session, personas: Personas
) -> None:
    foreign = service.create_organization(session, personas.gina.ctx, org("Globex customer"))
    ctx = personas.ann.ctx
    with pytest.raises(ValidationFailed) as exc:
        service.create_contact(session, ctx, contact("pat@example.com", organization_id=foreign.id))
    assert field_of(exc) == "organization_id"
    mine = service.create_contact(session, ctx, contact("pat@example.com"))
    with pytest.raises(ValidationFailed) as exc:
        service.update_contact(session, ctx, mine.id, ContactUpdate(organization_id=foreign.id))
    assert field_of(exc) == "organization_id"
    with pytest.raises(ValidationFailed):
        service.update_contact(session, ctx, mine.id, ContactUpdate(organization_id=999_999))


def test_update_contact_is_partial_and_guards_email(session: Session, personas: Personas) -> None:
    ctx = personas.ann.ctx
    initech = service.create_organization(
        session, ctx, org("Initech", domain="initech.example.com")
    )
    pat = service.create_contact(
        session, ctx, contact("pat@initech.example.com", name="Pat", phone="123")
    )
    service.create_contact(session, ctx, contact("sam@example.com"))

    updated = service.update_contact(session, ctx, pat.id, ContactUpdate(phone=None, crm_id="c9"))
    assert (updated.name, updated.phone, updated.crm_id) == ("Pat", None, "c9")
    assert updated.organization_id == initech.id

    with pytest.raises(Conflict):
        service.update_contact(session, ctx, pat.id, ContactUpdate(email="Sam@example.com"))
    renamed = service.update_contact(session, ctx, pat.id, ContactUpdate(email="PAT2@example.com"))
    assert renamed.email == "pat2@example.com"
    same = service.update_contact(session, ctx, pat.id, ContactUpdate(email="pat2@example.com"))
    assert same.email == "pat2@example.com"


def test_list_contacts_filters(session: Session, personas: Personas) -> None:
    ctx = personas.ann.ctx
    initech = service.create_organization(
        session, ctx, org("Initech", domain="initech.example.com")
    )
    pat = service.create_contact(session, ctx, contact("pat@initech.example.com", name="Patricia"))
    sam = service.create_contact(session, ctx, contact("sam@initech.example.com", name="Sam"))
    kim = service.create_contact(session, ctx, contact("kim@example.com", name="Kim Patel"))

    def ids(**filters: object) -> list[int]:
        rows, _ = service.list_contacts(session, ctx, limit=100, **filters)  # type: ignore[arg-type]
        return [c.id for c in rows]

    assert ids(q="PAT") == [pat.id, kim.id]  # name or email, case-insensitive
    assert ids(organization_id=initech.id) == [pat.id, sam.id]
    assert ids(email=" Sam@Initech.example.com ") == [sam.id]
    assert ids(q="pat", organization_id=initech.id) == [pat.id]


def test_contact_cursor_walks_every_row_once(session: Session, personas: Personas) -> None:
    ctx = personas.ann.ctx
    # carol (a portal customer) already has a contact in acme.
    existing = [c.id for c in service.list_contacts(session, ctx, limit=100)[0]]
    new = [service.create_contact(session, ctx, contact(f"p{i}@example.com")).id for i in range(5)]
    seen: list[int] = []
    cursor: str | None = None
    while True:
        rows, cursor = service.list_contacts(session, ctx, limit=2, cursor=cursor)
        seen += [c.id for c in rows]
        if cursor is None:
            break
    assert seen == sorted(existing + new)
    assert len(set(seen)) == len(seen)


def test_delete_contact(session: Session, personas: Personas) -> None:
    ctx = personas.ann.ctx
    pat = service.create_contact(session, ctx, contact("pat@example.com"))
    ticket = make_ticket(session, ctx, requester={"email": "pat@example.com"})
    session.commit()
    service.delete_contact(session, ctx, pat.id)
    session.commit()
    with pytest.raises(NotFound):
        service.get_contact(session, ctx, pat.id)
    session.refresh(ticket)
    assert ticket.requester_id is None
    assert (
        session.scalar(select(func.count()).select_from(Contact).where(Contact.id == pat.id)) == 0
    )


def test_other_workspaces_contacts_are_invisible(session: Session, personas: Personas) -> None:
    acme = service.create_contact(session, personas.ann.ctx, contact("pat@example.com"))
    globex = personas.gina.ctx
    with pytest.raises(NotFound):
        service.get_contact(session, globex, acme.id)
    with pytest.raises(NotFound):
        service.update_contact(session, globex, acme.id, ContactUpdate(name="x"))
    with pytest.raises(NotFound):
        service.delete_contact(session, globex, acme.id)
    rows, _ = service.list_contacts(session, globex, q="pat", limit=100)
    assert rows == []
