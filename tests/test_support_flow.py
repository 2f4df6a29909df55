"""Issue 7's "done when": a rule, a team and an SLA policy configured through the API drive a new
ticket's priority, assignee and SLA state, and a breach escalates exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from deskpilot.core.clock import set_clock
from deskpilot.db.engine import Database
from deskpilot.escalations.models import Escalation
from deskpilot.sla.tasks import sweep
from tests.factories import Personas

API = "/api/v1"


@pytest.fixture
def now() -> Iterator[list[datetime]]:
    current = [datetime(2026, 3, 2, 9, 0, tzinfo=UTC)]
    set_clock(lambda: current[0])
    yield current
    set_clock(None)


def test_rule_team_and_policy_drive_a_ticket_and_a_breach_escalates_once(
    client: TestClient, db: Database, personas: Personas, now: list[datetime]
) -> None:
    admin = personas.acme_admin.headers
    support = personas.teams["acme_support"]
    billing = personas.teams["acme_billing"]
    for agent in (personas.ann, personas.bob):
        joined = client.put(f"{API}/teams/{support}/members/{agent.user_id}", headers=admin)
        assert joined.status_code == 200, joined.text
        status = client.put(
            f"{API}/agents/{agent.user_id}/status",
            json={"availability": "online", "capacity": 5},
            headers=admin,
        )
        assert status.status_code == 200, status.text
    routing = client.put(
        f"{API}/teams/{support}/routing", json={"strategy": "round_robin"}, headers=admin
    )
    assert routing.status_code == 200, routing.text
    rule = client.post(
        f"{API}/automation/rules",
        json={
            "name": "Outages are urgent and go to support",
            "trigger": "ticket_created",
            "conditions": [{"field": "subject", "op": "contains", "value": "down"}],
            "actions": [
                {"type": "set_field", "field": "priority", "value": "urgent"},
                {"type": "assign_team", "team_id": support},
            ],
        },
        headers=admin,
    )
    assert rule.status_code == 201, rule.text
    policy = client.post(
        f"{API}/sla-policies",
        json={
            "name": "Urgent: answer in 30 minutes",
            "conditions": {"priority": ["urgent"]},
            "first_response_minutes": 30,
            "resolution_minutes": 240,
            "breach_actions": [{"type": "assign_team", "team_id": billing}],
        },
        headers=admin,
    )
    assert policy.status_code == 201, policy.text

    created = client.post(
        f"{API}/tickets",
        json={"subject": "Our site is down", "requester": {"email": "dana@client.example.com"}},
        headers=personas.ann.headers,
    )
    assert created.status_code == 201, created.text
    ticket = created.json()
    # The response already shows what the rule, routing and SLA did.
    assert ticket["priority"] == "urgent"
    assert ticket["team_id"] == support
    assert ticket["assignee_id"] in (personas.ann.user_id, personas.bob.user_id)
    sla = client.get(f"{API}/tickets/{ticket['id']}/sla", headers=personas.ann.headers).json()
    first = next(c for c in sla["clocks"] if c["metric"] == "first_response")
    assert first["state"] == "ok"
    assert first["target_minutes"] == 30

    now[0] += timedelta(minutes=31)
    for _ in range(2):  # a second sweep (or a second worker) must not act again
        with db.session(write=True) as session:
            sweep(session)
            session.commit()

    sla = client.get(f"{API}/tickets/{ticket['id']}/sla", headers=personas.ann.headers).json()
    first = next(c for c in sla["clocks"] if c["metric"] == "first_response")
    assert first["state"] == "breached"
    with db.session(write=False) as session:
        escalations = list(
            session.scalars(select(Escalation).where(Escalation.ticket_id == ticket["id"]))
        )
    assert [(e.reason, e.team_id) for e in escalations] == [("sla", billing)]
    events = client.get(f"{API}/tickets/{ticket['id']}/events", headers=personas.ann.headers)
    kinds = [e["kind"] for e in events.json()["items"]]
    assert kinds.count("sla_breached") == 1
    assert kinds.count("escalated") == 1
