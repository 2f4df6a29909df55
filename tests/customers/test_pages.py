"""Customer pages: contacts under /app/customers, organizations under /app/organizations."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from deskpilot.core.errors import NotFound
from deskpilot.core.pagination import encode_cursor
from deskpilot.customers import service
from deskpilot.customers.schemas import ContactCreate, OrganizationCreate
from deskpilot.db.engine import Database
from tests.factories import Persona, Personas, make_ticket
from tests.pages import HTMX, sign_in


def _org(db: Database, persona: Persona, **fields: Any) -> int:
    data = OrganizationCreate.model_validate({"name": "Initech", **fields})
    with db.session(write=True) as s:
        org = service.create_organization(s, persona.ctx, data)
        s.commit()
        return org.id


def _contact(db: Database, persona: Persona, **fields: Any) -> int:
    data = ContactCreate.model_validate({"email": "peter@initech.example.com", **fields})
    with db.session(write=True) as s:
        contact = service.create_contact(s, persona.ctx, data)
        s.commit()
        return contact.id


def _read_contact(db: Database, persona: Persona, contact_id: int) -> dict[str, Any]:
    with db.session(write=False) as s:
        c = service.get_contact(s, persona.ctx, contact_id)
        return {
            "email": c.email,
            "name": c.name,
            "phone": c.phone,
            "organization_id": c.organization_id,
            "crm_id": c.crm_id,
        }


def _read_org(db: Database, persona: Persona, org_id: int) -> dict[str, Any]:
    with db.session(write=False) as s:
        o = service.get_organization(s, persona.ctx, org_id)
        return {
            "name": o.name,
            "domain": o.domain,
            "tier": o.tier,
            "mrr": o.mrr,
            "external_id": o.external_id,
            "crm_id": o.crm_id,
        }


def _contact_emails(db: Database, persona: Persona) -> list[str]:
    with db.session(write=False) as s:
        rows, _ = service.list_contacts(s, persona.ctx, limit=100)
        return [c.email for c in sorted(rows, key=lambda c: c.id)]


def _contact_form(csrf: str, **fields: str) -> dict[str, str]:
    form = {"csrf_token": csrf, "email": "peter@initech.example.com", "name": "Peter"}
    return {**form, "phone": "", "organization_id": "", "crm_id": "", **fields}


def _org_form(csrf: str, **fields: str) -> dict[str, str]:
    form = {"csrf_token": csrf, "name": "Initech", "domain": "", "tier": "", "mrr": ""}
    return {**form, "external_id": "", "crm_id": "", **fields}


# --- who may open what ---------------------------------------------------------------------------

GETS = [
    "/app/customers",
    "/app/customers/new",
    "/app/customers/{contact}",
    "/app/organizations",
    "/app/organizations/new",
    "/app/organizations/{org}",
]


@pytest.mark.parametrize("path", GETS)
@pytest.mark.parametrize(
    ("who", "status"), [("ann", 200), ("acme_admin", 200), ("acme_owner", 200), ("carol", 403)]
)
def test_customer_pages_are_for_staff(
    client: TestClient, personas: Personas, db: Database, path: str, who: str, status: int
) -> None:
    org = _org(db, personas.acme_admin)
    contact = _contact(db, personas.acme_admin, organization_id=org)
    sign_in(client, getattr(personas, who))
    r = client.get(path.format(contact=contact, org=org))
    assert r.status_code == status
    if status == 200:
        assert '<a href="/app/customers" aria-current="page">Customers</a>' in r.text
    else:
        assert "Initech" not in r.text


@pytest.mark.parametrize("path", GETS)
def test_anonymous_visitors_are_sent_to_sign_in(
    client: TestClient, personas: Personas, path: str
) -> None:
    url = path.format(contact=1, org=1)
    r = client.get(url, follow_redirects=False)
    assert r.status_code in (302, 303, 307)
    assert r.headers["location"].startswith(f"/login?next={url}")


def test_customers_cannot_write_either(
    client: TestClient, personas: Personas, db: Database
) -> None:
    contact = _contact(db, personas.acme_admin)
    org = _org(db, personas.acme_admin)
    csrf = sign_in(client, personas.carol)
    r = client.post(f"/app/customers/{contact}", data=_contact_form(csrf, name="Hacked"))
    assert r.status_code == 403
    assert (
        client.post(f"/app/organizations/{org}/delete", data={"csrf_token": csrf}).status_code
        == 403
    )
    assert _read_contact(db, personas.acme_admin, contact)["name"] == ""
    assert _read_org(db, personas.acme_admin, org)["name"] == "Initech"


def test_the_staff_top_bar_links_to_customers(client: TestClient, personas: Personas) -> None:
    sign_in(client, personas.ann)
    assert '<a href="/app/customers" >Customers</a>' in client.get("/app/macros").text


@pytest.mark.parametrize(
    "path",
    [
        "/app/customers",
        "/app/customers/{contact}",
        "/app/customers/{contact}/delete",
        "/app/organizations",
        "/app/organizations/{org}",
        "/app/organizations/{org}/delete",
    ],
)
def test_posts_need_the_csrf_token(
    client: TestClient, personas: Personas, db: Database, path: str
) -> None:
    org = _org(db, personas.acme_admin)
    contact = _contact(db, personas.acme_admin)
    sign_in(client, personas.ann)
    data = {"name": "Changed", "email": "changed@example.com"}
    r = client.post(path.format(contact=contact, org=org), data=data)
    assert r.status_code == 403
    assert "form expired" in r.text
    assert "changed@example.com" not in _contact_emails(db, personas.acme_admin)
    assert _read_org(db, personas.acme_admin, org)["name"] == "Initech"


# --- contacts ------------------------------------------------------------------------------------


def test_the_list_searches_by_name_or_email_full_page_and_htmx(
    client: TestClient, personas: Personas, db: Database
) -> None:
    _contact(db, personas.acme_admin, name="Peter Gibbons")
    _contact(db, personas.acme_admin, email="milton@initech.example.com", name="Milton")
    sign_in(client, personas.ann)
    full = client.get("/app/customers", params={"q": "gibb"})
    assert full.status_code == 200
    assert "<h1>Customers</h1>" in full.text
    assert "Peter Gibbons" in full.text
    assert "Milton" not in full.text
    partial = client.get("/app/customers", params={"q": "MILTON@"}, headers=HTMX)
    assert partial.status_code == 200
    assert partial.text.lstrip().startswith('<div id="contact-rows">')
    assert "<h1>" not in partial.text
    assert "milton@initech.example.com" in partial.text
    assert "Gibbons" not in partial.text
    none = client.get("/app/customers", params={"q": "nobody"})
    assert "No contact matches" in none.text


def test_the_list_pages_and_a_garbage_cursor_starts_over(
    client: TestClient, personas: Personas, db: Database
) -> None:
    with db.session(write=True) as s:
        for n in range(51):
            data = ContactCreate(email=f"p{n:02d}@example.com", name=f"Person {n:02d}")
            service.create_contact(s, personas.acme_admin.ctx, data)
        s.commit()
    sign_in(client, personas.ann)
    first = client.get("/app/customers")
    assert "Person 00" in first.text
    assert "Person 50" not in first.text
    assert "Next page" in first.text
    second = client.get(
        "/app/customers",
        params={"cursor": encode_cursor([_id_of(db, personas, "p49@example.com")])},
    )
    assert "Person 50" in second.text
    assert "Person 00" not in second.text
    garbage = client.get("/app/customers", params={"cursor": "not-a-cursor!"})
    assert garbage.status_code == 200
    assert "Person 00" in garbage.text


def _id_of(db: Database, personas: Personas, email: str) -> int:
    with db.session(write=False) as s:
        found = service.find_contact_by_email(s, personas.acme_admin.ctx, email)
        assert found is not None
        return found.id


def test_the_list_filters_by_organization(
    client: TestClient, personas: Personas, db: Database
) -> None:
    org = _org(db, personas.acme_admin)
    _contact(db, personas.acme_admin, name="Peter", organization_id=org)
    _contact(db, personas.acme_admin, email="joanna@chotchkies.example.com", name="Joanna")
    sign_in(client, personas.ann)
    r = client.get("/app/customers", params={"organization_id": org})
    assert "Showing the contacts of" in r.text
    assert "Peter" in r.text
    assert "Joanna" not in r.text


def test_create_a_contact_with_every_field(
    client: TestClient, personas: Personas, db: Database
) -> None:
    org = _org(db, personas.acme_admin)
    csrf = sign_in(client, personas.ann)
    form = _contact_form(
        csrf, email=" Peter@Initech.example.com ", phone="+1 555 0100", crm_id="crm-9"
    )
    r = client.post(
        "/app/customers", data={**form, "organization_id": str(org)}, follow_redirects=False
    )
    assert r.status_code == 303
    contact_id = int(r.headers["location"].rsplit("/", 1)[1])
    assert _read_contact(db, personas.acme_admin, contact_id) == {
        "email": "peter@initech.example.com",
        "name": "Peter",
        "phone": "+1 555 0100",
        "organization_id": org,
        "crm_id": "crm-9",
    }
    page = client.get(r.headers["location"])
    assert "Contact Peter created." in page.text


def test_a_new_contact_joins_by_domain_unless_told_none(
    client: TestClient, personas: Personas, db: Database
) -> None:
    org = _org(db, personas.acme_admin, domain="initech.example.com")
    csrf = sign_in(client, personas.ann)
    by_domain = client.post("/app/customers", data=_contact_form(csrf), follow_redirects=False)
    first = int(by_domain.headers["location"].rsplit("/", 1)[1])
    assert _read_contact(db, personas.acme_admin, first)["organization_id"] == org
    form = _contact_form(csrf, email="bill@initech.example.com", organization_id="none")
    no_org = client.post("/app/customers", data=form, follow_redirects=False)
    second = int(no_org.headers["location"].rsplit("/", 1)[1])
    assert _read_contact(db, personas.acme_admin, second)["organization_id"] is None


def test_a_bad_email_is_shown_next_to_the_field(
    client: TestClient, personas: Personas, db: Database
) -> None:
    csrf = sign_in(client, personas.ann)
    r = client.post("/app/customers", data=_contact_form(csrf, email="not-an-email"))
    assert r.status_code == 422
    assert 'id="email-error"' in r.text
    assert "valid email address" in r.text
    assert 'value="not-an-email"' in r.text
    assert _contact_emails(db, personas.acme_admin) == ["carol@customer.example.com"]


def test_a_taken_email_is_a_conflict(client: TestClient, personas: Personas, db: Database) -> None:
    _contact(db, personas.acme_admin)
    other = _contact(db, personas.acme_admin, email="bill@initech.example.com", name="Bill")
    csrf = sign_in(client, personas.ann)
    created = client.post("/app/customers", data=_contact_form(csrf))
    assert created.status_code == 409
    assert "already used by another contact" in created.text
    updated = client.post(f"/app/customers/{other}", data=_contact_form(csrf, name="Bill"))
    assert updated.status_code == 409
    assert "already used by another contact" in updated.text
    assert _read_contact(db, personas.acme_admin, other)["email"] == "bill@initech.example.com"


def test_edit_every_contact_field_and_clear_the_optional_ones(
    client: TestClient, personas: Personas, db: Database
) -> None:
    org = _org(db, personas.acme_admin)
    contact = _contact(db, personas.acme_admin, phone="1", crm_id="old", organization_id=org)
    csrf = sign_in(client, personas.ann)
    page = client.get(f"/app/customers/{contact}")
    assert f'<option value="{org}" selected>Initech</option>' in page.text
    form = _contact_form(
        csrf, email="pg@initech.example.com", name="Peter G", phone="+44 20", crm_id="new"
    )
    r = client.post(f"/app/customers/{contact}", data=form, follow_redirects=False)
    assert r.status_code == 303
    assert _read_contact(db, personas.acme_admin, contact) == {
        "email": "pg@initech.example.com",
        "name": "Peter G",
        "phone": "+44 20",
        "organization_id": None,
        "crm_id": "new",
    }
    form = _contact_form(csrf, email="pg@initech.example.com", organization_id=str(org))
    assert client.post(f"/app/customers/{contact}", data=form, headers=HTMX).status_code == 204
    assert _read_contact(db, personas.acme_admin, contact) == {
        "email": "pg@initech.example.com",
        "name": "Peter",
        "phone": None,
        "organization_id": org,
        "crm_id": None,
    }


def test_another_workspaces_organization_is_refused_in_the_contact_form(
    client: TestClient, personas: Personas, db: Database
) -> None:
    foreign = _org(db, personas.globex_owner, name="Globex Corp")
    contact = _contact(db, personas.acme_admin)
    csrf = sign_in(client, personas.ann)
    r = client.post(
        f"/app/customers/{contact}", data=_contact_form(csrf, organization_id=str(foreign))
    )
    assert r.status_code == 422
    assert "no organization with this id" in r.text
    assert "Globex Corp" not in r.text
    assert _read_contact(db, personas.acme_admin, contact)["organization_id"] is None
    new = client.post(
        "/app/customers",
        data=_contact_form(csrf, email="x@example.com", organization_id=str(foreign)),
    )
    assert new.status_code == 422
    assert "no organization with this id" in new.text
    bad = client.post(f"/app/customers/{contact}", data=_contact_form(csrf, organization_id="abc"))
    assert bad.status_code == 422
    assert 'id="organization_id-error"' in bad.text


def test_another_workspaces_contact_and_organization_are_not_found(
    client: TestClient, personas: Personas, db: Database
) -> None:
    contact = _contact(db, personas.globex_owner, email="g@globex.example.com")
    org = _org(db, personas.globex_owner)
    csrf = sign_in(client, personas.ann)
    assert client.get(f"/app/customers/{contact}").status_code == 404
    assert client.get(f"/app/organizations/{org}").status_code == 404
    assert client.get("/app/customers", params={"organization_id": org}).status_code == 404
    post = client.post(f"/app/customers/{contact}", data=_contact_form(csrf, name="Mine"))
    assert post.status_code == 404
    assert (
        client.post(f"/app/customers/{contact}/delete", data={"csrf_token": csrf}).status_code
        == 404
    )
    assert client.post(f"/app/organizations/{org}", data=_org_form(csrf)).status_code == 404
    delete_org = client.post(f"/app/organizations/{org}/delete", data={"csrf_token": csrf})
    assert delete_org.status_code == 404
    assert _read_contact(db, personas.globex_owner, contact)["name"] == ""
    assert _read_org(db, personas.globex_owner, org)["name"] == "Initech"


def test_the_contact_page_lists_their_recent_tickets(
    client: TestClient, personas: Personas, db: Database
) -> None:
    with db.session(write=True) as s:
        ticket = make_ticket(s, personas.ann.ctx, subject="Printer on fire")
        contact_id = ticket.requester_id
        s.commit()
    sign_in(client, personas.ann)
    r = client.get(f"/app/customers/{contact_id}")
    assert f'<a href="/app/tickets/{ticket.number}">#{ticket.number} Printer on fire</a>' in r.text


def test_delete_a_contact_keeps_their_tickets(
    client: TestClient, personas: Personas, db: Database
) -> None:
    with db.session(write=True) as s:
        ticket = make_ticket(s, personas.ann.ctx)
        contact_id, number = ticket.requester_id, ticket.number
        s.commit()
    assert contact_id is not None
    csrf = sign_in(client, personas.ann)
    page = client.get(f"/app/customers/{contact_id}")
    assert 'data-confirm="Delete the contact Dave?"' in page.text
    r = client.post(f"/app/customers/{contact_id}/delete", data={"csrf_token": csrf})
    assert r.status_code == 200  # followed the redirect to the list
    assert "Contact Dave deleted." in r.text
    with db.session(write=False) as s, pytest.raises(NotFound):
        service.get_contact(s, personas.ann.ctx, contact_id)
    assert client.get(f"/app/tickets/{number}").status_code == 200


# --- organizations -------------------------------------------------------------------------------


def test_organizations_list_searches_by_name_or_domain(
    client: TestClient, personas: Personas, db: Database
) -> None:
    _org(db, personas.acme_admin, domain="initech.example.com")
    _org(db, personas.acme_admin, name="Chotchkies", domain="chotchkies.example.com")
    _org(db, personas.globex_owner, name="Globex Corp")
    sign_in(client, personas.ann)
    full = client.get("/app/organizations")
    assert "<h1>Organizations</h1>" in full.text
    assert "Initech" in full.text
    assert "Chotchkies" in full.text
    assert "Globex Corp" not in full.text
    partial = client.get("/app/organizations", params={"q": "chotchkies.example"}, headers=HTMX)
    assert partial.text.lstrip().startswith('<div id="organization-rows">')
    assert "Chotchkies" in partial.text
    assert "Initech" not in partial.text
    garbage = client.get("/app/organizations", params={"cursor": "%%%"})
    assert garbage.status_code == 200
    assert "Initech" in garbage.text


def test_create_and_edit_every_organization_field(
    client: TestClient, personas: Personas, db: Database
) -> None:
    csrf = sign_in(client, personas.ann)
    form = _org_form(
        csrf,
        domain="Initech.Example.com",
        tier="Enterprise",
        mrr="1200.50",
        external_id="ext-1",
        crm_id="crm-1",
    )
    r = client.post("/app/organizations", data=form, follow_redirects=False)
    assert r.status_code == 303
    org = int(r.headers["location"].rsplit("/", 1)[1])
    assert _read_org(db, personas.acme_admin, org) == {
        "name": "Initech",
        "domain": "initech.example.com",
        "tier": "Enterprise",
        "mrr": Decimal("1200.50"),
        "external_id": "ext-1",
        "crm_id": "crm-1",
    }
    assert "Organization Initech created." in client.get(r.headers["location"]).text
    form = _org_form(csrf, name="Initech Ltd", tier="SMB", mrr="99")
    saved = client.post(f"/app/organizations/{org}", data=form, follow_redirects=False)
    assert saved.status_code == 303
    assert _read_org(db, personas.acme_admin, org) == {
        "name": "Initech Ltd",
        "domain": None,
        "tier": "SMB",
        "mrr": Decimal("99.00"),
        "external_id": None,
        "crm_id": None,
    }


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "  ", "at least 1 character"),
        ("domain", "not a domain", "not a valid domain name"),
        ("mrr", "lots", "valid decimal"),
        ("mrr", "-1", "greater than or equal to 0"),
    ],
)
def test_organization_form_errors_sit_next_to_their_field(
    client: TestClient, personas: Personas, db: Database, field: str, value: str, message: str
) -> None:
    org = _org(db, personas.acme_admin)
    csrf = sign_in(client, personas.ann)
    r = client.post(f"/app/organizations/{org}", data=_org_form(csrf, **{field: value}))
    assert r.status_code == 422
    assert f'id="{field}-error"' in r.text
    assert message in r.text
    assert _read_org(db, personas.acme_admin, org)["name"] == "Initech"
    new = client.post("/app/organizations", data=_org_form(csrf, **{field: value}))
    assert new.status_code == 422
    assert message in new.text


def test_a_domain_of_another_organization_is_a_conflict(
    client: TestClient, personas: Personas, db: Database
) -> None:
    first = _org(db, personas.acme_admin, domain="initech.example.com")
    second = _org(db, personas.acme_admin, name="Other")
    csrf = sign_in(client, personas.ann)
    form = _org_form(csrf, name="Other", domain="initech.example.com")
    r = client.post(f"/app/organizations/{second}", data=form)
    assert r.status_code == 409
    assert f"used by organization {first}" in r.text
    assert _read_org(db, personas.acme_admin, second)["domain"] is None
    assert client.post("/app/organizations", data=form).status_code == 409


def test_the_organization_page_lists_its_contacts_and_delete_keeps_them(
    client: TestClient, personas: Personas, db: Database
) -> None:
    org = _org(db, personas.acme_admin)
    contact = _contact(db, personas.acme_admin, name="Peter", organization_id=org)
    csrf = sign_in(client, personas.ann)
    page = client.get(f"/app/organizations/{org}")
    assert f'<a href="/app/customers/{contact}">Peter</a>' in page.text
    assert 'data-confirm="Delete the organization Initech?"' in page.text
    r = client.post(
        f"/app/organizations/{org}/delete", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/app/organizations"
    with db.session(write=False) as s, pytest.raises(NotFound):
        service.get_organization(s, personas.ann.ctx, org)
    assert _read_contact(db, personas.acme_admin, contact)["organization_id"] is None


# --- the ticket page links here ------------------------------------------------------------------


def test_the_requester_panel_links_the_contact_and_organization(
    client: TestClient, personas: Personas, db: Database
) -> None:
    org = _org(db, personas.acme_admin, name="Customer Inc", domain="customer.example.com")
    with db.session(write=True) as s:
        ticket = make_ticket(s, personas.ann.ctx)
        contact_id, number = ticket.requester_id, ticket.number
        s.commit()
    sign_in(client, personas.ann)
    r = client.get(f"/app/tickets/{number}")
    assert f'<a href="/app/customers/{contact_id}">Dave</a>' in r.text
    assert f'<a href="/app/organizations/{org}">Customer Inc</a>' in r.text
