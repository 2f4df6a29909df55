"""Odd values typed or posted into pages get a clear answer, never a 500: digits that are not
ASCII ("²"), numbers beyond any id, dates at the end of the calendar."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import Personas, make_ticket
from tests.pages import sign_in

HUGE = "9" * 25


@pytest.mark.parametrize(
    "url",
    [
        "/app?assignee=²",
        "/app?team=²",
        f"/app?assignee={HUGE}",
        f"/app?team={HUGE}",
        "/app?created_to=9999-12-31",
        "/app/analytics?team=²",
        f"/app/analytics?team={HUGE}",
        "/admin/kb?category_id=²",
    ],
)
def test_odd_query_values_are_not_server_errors(
    client: TestClient, personas: Personas, url: str
) -> None:
    sign_in(client, personas.acme_admin)
    r = client.get(url)
    assert r.status_code < 500, r.text[:300]


def test_odd_posted_values_are_not_server_errors(
    client: TestClient, personas: Personas, session: Session
) -> None:
    ticket = make_ticket(session, personas.ann.ctx)
    session.commit()
    csrf = sign_in(client, personas.acme_admin)
    base = f"/app/tickets/{ticket.number}"
    posts = [
        ("/app/bulk", {"action": "assign", "assignee": "²", "ticket_ids": str(ticket.id)}),
        ("/app/bulk", {"action": "assign", "assignee": "0", "ticket_ids": str(ticket.id)}),
        ("/app/bulk", {"action": "status", "value": "closed", "ticket_ids": HUGE}),
        (f"{base}/fields", {"field": "assignee_id", "value": "²"}),
        (f"{base}/merge", {"into_number": "²"}),
        (f"{base}/macro", {"macro_id": "²"}),
    ]
    for path, form in posts:
        r = client.post(path, data={"csrf_token": csrf, **form}, follow_redirects=False)
        assert r.status_code < 500, (path, form, r.text[:300])
