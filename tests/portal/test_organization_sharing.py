"""Requests shared within a customer organization: off by default; when an admin turns it on, a
customer sees colleagues' requests (portal and API), never other organizations', and only the
requester rates."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from deskpilot.customers import service as customers_service
from deskpilot.customers.schemas import ContactUpdate, OrganizationCreate
from deskpilot.tickets.lifecycle import Status
from tests.factories import Personas, make_ticket
from tests.pages import sign_in


def _world(session: Session, personas: Personas) -> tuple[int, int]:
    """carol and dave work at Customer Inc; erin is elsewhere. Returns (dave's, erin's) numbers."""
    admin = personas.acme_admin.ctx
    org = customers_service.create_organization(
        session, admin, OrganizationCreate(name="Customer Inc", domain="customer.example.com")
    )
    assert personas.carol.contact_id is not None
    customers_service.update_contact(
        session, admin, personas.carol.contact_id, ContactUpdate(organization_id=org.id)
    )
    daves = make_ticket(session, personas.ann.ctx, subject="Dave's shared problem")
    assert daves.organization_id == org.id
    erins = make_ticket(
        session,
        personas.ann.ctx,
        subject="Erin's other-company problem",
        requester={"email": "erin@elsewhere.example.com", "name": "Erin"},
    )
    daves.status = Status.resolved.value
    session.commit()
    return daves.number, erins.number


def test_sharing_is_off_until_an_admin_turns_it_on(
    client: TestClient, personas: Personas, session: Session
) -> None:
    dave_number, erin_number = _world(session, personas)
    sign_in(client, personas.carol)
    assert "Dave&#39;s shared problem" not in client.get("/help/acme/tickets").text
    assert client.get(f"/help/acme/tickets/{dave_number}").status_code == 404
    listed = client.get("/api/v1/tickets", headers=personas.carol.headers).json()["items"]
    assert listed == []

    admin = TestClient(client.app)
    csrf = sign_in(admin, personas.acme_admin)
    assert "Customers see their organization" in admin.get("/admin/workspace").text
    r = admin.post(
        "/admin/workspace/portal",
        data={"csrf_token": csrf, "organization_tickets": "1"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert (
        'id="f-organization_tickets" name="organization_tickets" type="checkbox" value="1" checked'
        in (admin.get("/admin/workspace").text)
    )

    page = client.get("/help/acme/tickets").text
    assert "Dave&#39;s shared problem" in page
    assert "Erin" not in page
    assert client.get(f"/help/acme/tickets/{dave_number}").status_code == 200
    assert client.get(f"/help/acme/tickets/{erin_number}").status_code == 404
    subjects = [
        t["subject"]
        for t in client.get("/api/v1/tickets", headers=personas.carol.headers).json()["items"]
    ]
    assert subjects == ["Dave's shared problem"]
    # Colleagues see a shared request, but only its requester rates it.
    rated = client.post(
        "/api/v1/tickets/{}/satisfaction".format(
            client.get("/api/v1/tickets", headers=personas.carol.headers).json()["items"][0]["id"]
        ),
        json={"score": 5},
        headers=personas.carol.headers,
    )
    assert rated.status_code == 403
