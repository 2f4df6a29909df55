"""Named personas in two workspaces and small builders for test data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from deskpilot.auth import service as auth_service
from deskpilot.core.context import Context, Role
from deskpilot.tickets import service as tickets_service
from deskpilot.tickets.models import Ticket
from deskpilot.tickets.schemas import TicketCreate
from deskpilot.workspaces import service as workspaces_service
from deskpilot.workspaces.models import Team

PASSWORD = "correct horse battery"


@dataclass
class Persona:
    key: str
    email: str
    role: Role
    workspace_id: int
    workspace_slug: str
    user_id: int
    contact_id: int | None
    token: str

    @property
    def ctx(self) -> Context:
        return Context(
            workspace_id=self.workspace_id,
            user_id=self.user_id,
            role=self.role,
            contact_id=self.contact_id,
        )

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Personas:
    """acme: owner, admin, agents ann and bob, customer carol; globex: owner gus, agent gina."""

    by_key: dict[str, Persona] = field(default_factory=dict)
    teams: dict[str, int] = field(default_factory=dict)

    def __getattr__(self, key: str) -> Persona:
        try:
            return self.by_key[key]
        except KeyError as exc:
            raise AttributeError(key) from exc


PEOPLE = [
    ("acme_owner", "acme", "olivia@acme.example.com", Role.owner),
    ("acme_admin", "acme", "adam@acme.example.com", Role.admin),
    ("ann", "acme", "ann@acme.example.com", Role.agent),
    ("bob", "acme", "bob@acme.example.com", Role.agent),
    ("carol", "acme", "carol@customer.example.com", Role.customer),
    ("globex_owner", "globex", "gus@globex.example.com", Role.owner),
    ("gina", "globex", "gina@globex.example.com", Role.agent),
]


def make_personas(session: Session) -> Personas:
    people = Personas()
    workspaces = {
        slug: workspaces_service.create_workspace(session, slug=slug, name=slug.title())
        for slug in ("acme", "globex")
    }
    for key, slug, email, role in PEOPLE:
        ws = workspaces[slug]
        system = Context.system(ws.id)
        membership = auth_service.add_member(
            session, system, email=email, role=role, name=key.title(), password=PASSWORD
        )
        ctx = Context(
            workspace_id=ws.id,
            user_id=membership.user_id,
            role=role,
            contact_id=membership.contact_id,
        )
        token = auth_service.issue_token(session, ctx, user_id=membership.user_id, name="tests")
        people.by_key[key] = Persona(
            key, email, role, ws.id, slug, membership.user_id, membership.contact_id, token.secret
        )
    for slug, name in (("acme", "Support"), ("acme", "Billing"), ("globex", "Support")):
        team = Team(workspace_id=workspaces[slug].id, name=name, description="")
        session.add(team)
        session.flush()
        people.teams[f"{slug}_{name.lower()}"] = team.id
    return people


def make_ticket(session: Session, ctx: Context, **overrides: Any) -> Ticket:
    data: dict[str, Any] = {
        "subject": "Cannot log in",
        "description": "I reset my password but still cannot log in.",
        "requester": {"email": "dave@customer.example.com", "name": "Dave"},
    }
    data.update(overrides)
    ticket, _ = tickets_service.create_ticket(session, ctx, TicketCreate.model_validate(data))
    return ticket


def use_fast_password_hashing(monkeypatch: Any) -> None:
    """Swap argon2's production cost (about 0.2 s a hash) for the cheapest valid parameters.

    Personas set seven passwords per test; at full cost that alone takes over a second a test.
    Verification reads its parameters from the stored hash, so logins keep working unchanged.
    """
    from argon2 import PasswordHasher

    from deskpilot.auth import passwords

    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", cheap)
    monkeypatch.setattr(passwords, "_DUMMY_HASH", cheap.hash("deskpilot-timing-equaliser"))


def api_ticket(client: Any, persona: Persona, **overrides: Any) -> dict[str, Any]:
    """Create a ticket through the API as `persona` and return the response body."""
    body: dict[str, Any] = {
        "subject": "Cannot log in",
        "requester": {"email": "dave@customer.example.com", "name": "Dave"},
    }
    body.update(overrides)
    response = client.post("/api/v1/tickets", json=body, headers=persona.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created
