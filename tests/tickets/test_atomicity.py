"""A ticket create that fails part-way leaves nothing behind: the request is one transaction."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from deskpilot.customers.models import Contact
from deskpilot.db.engine import Database
from deskpilot.idempotency.models import IdempotencyKey
from deskpilot.tickets import service
from deskpilot.tickets.models import Message, Ticket, TicketEvent, TicketTag
from deskpilot.workspaces.models import Workspace
from tests.factories import Personas

TICKETS = "/api/v1/tickets"
NEW_EMAIL = "first-time@example.com"


def footprint(db: Database, workspace_id: int) -> dict[str, Any]:
    """Everything a ticket create can write, for before/after comparison."""
    with db.session(write=False) as s:
        counts = {
            model.__name__: s.scalar(select(func.count()).select_from(model))
            for model in (Ticket, TicketEvent, TicketTag, Message, IdempotencyKey)
        }
        counts["new contact"] = s.scalar(
            select(func.count()).select_from(Contact).where(Contact.email == NEW_EMAIL)
        )
        counts["ticket_seq"] = s.scalar(
            select(Workspace.ticket_seq).where(Workspace.id == workspace_id)
        )
        return counts


@pytest.mark.parametrize(
    ("reference", "field"),
    [({"team_id": 99_999}, "team_id"), ({"assignee_id": 99_999}, "assignee_id")],
)
def test_a_bad_reference_rolls_back_the_contact_and_keeps_the_counter(
    client: TestClient, personas: Personas, db: Database, reference: dict[str, int], field: str
) -> None:
    """The requester contact is written before references are checked; it must not survive."""
    before = footprint(db, personas.ann.workspace_id)
    r = client.post(
        TICKETS,
        json={"subject": "x", "tags": ["t"], "requester": {"email": NEW_EMAIL}, **reference},
        headers={**personas.ann.headers, "Idempotency-Key": "atomic-1"},
    )
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == field
    assert footprint(db, personas.ann.workspace_id) == before

    ok = client.post(
        TICKETS,
        json={"subject": "x", "requester": {"email": NEW_EMAIL}},
        headers=personas.ann.headers,
    )
    assert ok.json()["number"] == 1


def test_a_crash_after_the_number_is_taken_rolls_everything_back(
    client: TestClient, personas: Personas, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fail at the very last write (the audit event): ticket, tags, contact, key and number go."""
    real_record = service._record

    def failing_record(*args: Any, **kwargs: Any) -> Any:
        if args[3] == "created":
            raise RuntimeError("disk full")
        return real_record(*args, **kwargs)

    monkeypatch.setattr(service, "_record", failing_record)
    before = footprint(db, personas.ann.workspace_id)
    r = client.post(
        TICKETS,
        json={"subject": "x", "tags": ["t"], "requester": {"email": NEW_EMAIL}},
        headers={**personas.ann.headers, "Idempotency-Key": "atomic-2"},
    )
    assert r.status_code == 500
    assert r.json() == {
        "error": {"code": "internal_error", "message": "Internal server error", "details": None}
    }
    assert footprint(db, personas.ann.workspace_id) == before

    monkeypatch.setattr(service, "_record", real_record)
    retried = client.post(
        TICKETS,
        json={"subject": "x", "tags": ["t"], "requester": {"email": NEW_EMAIL}},
        headers={**personas.ann.headers, "Idempotency-Key": "atomic-2"},
    )
    assert retried.status_code == 201
    assert retried.json()["number"] == 1
