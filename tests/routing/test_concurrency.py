"""Concurrent routing: many transactions assign for one team at once, yet no agent goes above
capacity and round robin stays even. Meaningful on PostgreSQL (real row locks); on SQLite the
write lock serializes the same code.

Ticket creation alone is serialized by the workspace's ticket-number row, so the sharper test
moves existing tickets into the team concurrently (PATCH), where only routing's own locks stand
between the transactions.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from deskpilot.db.engine import Database
from deskpilot.routing.schemas import Availability, Strategy
from tests.factories import Personas, api_ticket
from tests.routing.conftest import key_of, staff_team

pytestmark = pytest.mark.concurrency

THREADS = 8
ON = Availability.online


def _run_concurrently(
    app: FastAPI, requests: list[tuple[str, str, dict[str, Any]]], headers: dict[str, str]
) -> list[Any]:
    barrier = threading.Barrier(len(requests))

    def worker(request: tuple[str, str, dict[str, Any]]) -> Any:
        method, url, body = request
        own_client = TestClient(app, raise_server_exceptions=False)
        barrier.wait(timeout=60)
        return own_client.request(method, url, json=body, headers=headers)

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return list(pool.map(worker, requests))


def _assignees(client: TestClient, personas: Personas, ids: list[int]) -> Counter[str]:
    return Counter(
        key_of(
            personas,
            client.get(f"/api/v1/tickets/{i}", headers=personas.ann.headers).json()["assignee_id"],
        )
        for i in ids
    )


def test_concurrent_creations_respect_capacity(
    app: FastAPI, client: TestClient, personas: Personas, db: Database
) -> None:
    with db.session(write=True) as s:
        team = staff_team(s, personas, Strategy.round_robin, {"ann": (ON, 3), "bob": (ON, 2)})
    body = {"subject": "Outage", "requester": {"email": "d@customer.example.com"}, "team_id": team}
    responses = _run_concurrently(
        app, [("POST", "/api/v1/tickets", body)] * THREADS, personas.ann.headers
    )
    assert [r.status_code for r in responses] == [201] * THREADS
    ids = [r.json()["id"] for r in responses]
    assert _assignees(client, personas, ids) == {"ann": 3, "bob": 2, "none": THREADS - 5}


def test_concurrent_moves_into_a_team_never_exceed_capacity(
    app: FastAPI, client: TestClient, personas: Personas, db: Database
) -> None:
    ids = [api_ticket(client, personas.ann, subject=f"t{i}")["id"] for i in range(THREADS)]
    with db.session(write=True) as s:
        team = staff_team(s, personas, Strategy.least_load, {"ann": (ON, 2), "bob": (ON, 3)})
    responses = _run_concurrently(
        app,
        [("PATCH", f"/api/v1/tickets/{i}", {"team_id": team}) for i in ids],
        personas.acme_admin.headers,
    )
    assert [r.status_code for r in responses] == [200] * THREADS
    assert _assignees(client, personas, ids) == {"ann": 2, "bob": 3, "none": THREADS - 5}
    queue = client.get(f"/api/v1/teams/{team}/queue", headers=personas.ann.headers).json()
    assert len(queue["items"]) == THREADS - 5


def test_concurrent_moves_into_a_round_robin_team_are_spread_evenly(
    app: FastAPI, client: TestClient, personas: Personas, db: Database
) -> None:
    count = 3 * 4
    ids = [api_ticket(client, personas.ann, subject=f"t{i}")["id"] for i in range(count)]
    with db.session(write=True) as s:
        team = staff_team(
            s,
            personas,
            Strategy.round_robin,
            {"ann": (ON, 100), "bob": (ON, 100), "acme_admin": (ON, 100)},
        )
    responses = _run_concurrently(
        app,
        [("PATCH", f"/api/v1/tickets/{i}", {"team_id": team}) for i in ids],
        personas.acme_admin.headers,
    )
    assert [r.status_code for r in responses] == [200] * count
    assert _assignees(client, personas, ids) == {"ann": 4, "bob": 4, "acme_admin": 4}
