"""Concurrent hand-offs of one ticket: the ticket lock leaves exactly one open escalation."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.factories import Personas, api_ticket

pytestmark = pytest.mark.concurrency

THREADS = 6


def test_concurrent_escalations_of_one_ticket_share_one_open_escalation(
    app: FastAPI, client: TestClient, personas: Personas
) -> None:
    ticket = api_ticket(client, personas.ann)
    url = f"/api/v1/tickets/{ticket['id']}/escalations"
    barrier = threading.Barrier(THREADS)
    reasons = ["sla", "sentiment", "policy", "turn_limit", "user_requested", "low_confidence"]

    def worker(i: int) -> Any:
        own_client = TestClient(app, raise_server_exceptions=False)
        barrier.wait(timeout=60)
        return own_client.post(url, json={"reason": reasons[i]}, headers=personas.ann.headers)

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        responses = list(pool.map(worker, range(THREADS)))

    assert sorted(r.status_code for r in responses) == [200] * (THREADS - 1) + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    [escalation] = client.get(url, headers=personas.ann.headers).json()
    first = escalation["reason"]
    joined = [h["reason"] for h in escalation["attempted"]["history"]]
    assert sorted([first, *joined]) == sorted(reasons)  # no hand-off lost
    status_events = [
        e
        for e in client.get(
            f"/api/v1/tickets/{ticket['id']}/events", headers=personas.ann.headers
        ).json()["items"]
        if e["kind"] == "status_changed"
    ]
    assert [(e["old_value"], e["new_value"]) for e in status_events] == [("new", "in_progress")]
