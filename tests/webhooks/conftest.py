"""Webhook test harness: a real HTTP receiver on loopback, a frozen clock, and due-job running."""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.factories import Persona

from deskpilot.core.clock import utcnow
from deskpilot.jobs import queue
from deskpilot.webhooks.signing import SIGNATURE_HEADER, verify

API = "/api/v1/webhooks"


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float
    """When it arrived, by the (frozen) clock: signatures are checked against this time."""

    @property
    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data

    @property
    def event(self) -> str:
        return self.headers["Deskpilot-Event"]


@dataclass
class Receiver:
    """Records every POST; answers with queued status codes, then 200."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    statuses: deque[int] = field(default_factory=deque)
    always: int | None = None

    def events(self) -> list[str]:
        return [r.event for r in self.received]

    def assert_signed(self, secret: str) -> None:
        assert self.received
        for request in self.received:
            header = request.headers[SIGNATURE_HEADER]
            assert verify(secret, header, request.body, now=request.at), header


def _start_receiver() -> tuple[Receiver, ThreadingHTTPServer, threading.Thread]:
    receiver = Receiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                receiver.received.append(
                    Received(dict(self.headers.items()), body, utcnow().timestamp())
                )
                if receiver.always is not None:
                    code = receiver.always
                else:
                    code = receiver.statuses.popleft() if receiver.statuses else 200
            self.send_response(code)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    return receiver, server, thread


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec, server, thread = _start_receiver()
    yield rec
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def other_receiver() -> Iterator[Receiver]:
    rec, server, thread = _start_receiver()
    yield rec
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def run_due_jobs() -> int:
    """Dispatch every pending job that is due now (the immediate queue runs them at once)."""
    return queue.sweep(now_slack=timedelta(0))


def create_endpoint(
    client: TestClient, admin: Persona, url: str, events: list[str], **extra: Any
) -> dict[str, Any]:
    r = client.post(
        f"{API}/endpoints", json={"url": url, "events": events, **extra}, headers=admin.headers
    )
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


def deliveries(client: TestClient, admin: Persona, endpoint_id: int) -> list[dict[str, Any]]:
    r = client.get(f"{API}/endpoints/{endpoint_id}/deliveries", headers=admin.headers)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items
