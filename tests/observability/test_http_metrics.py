"""HTTP metrics and request ids: route-template labels, counts by status, streaming untouched."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from starlette.types import Message, Receive, Scope, Send

from deskpilot.observability.metrics import UNMATCHED_ROUTE
from deskpilot.observability.middleware import MetricsMiddleware, RequestIdMiddleware
from tests.factories import Personas, make_ticket
from tests.observability.conftest import Scrape

HISTOGRAM = "deskpilot_http_request_duration_seconds"
REQUESTS = "deskpilot_http_requests_total"
TICKET_ROUTE = "/api/v1/tickets/{ticket_id}"


def test_requests_are_counted_by_route_template_and_status(
    client: TestClient,
    session: Session,
    personas: Personas,
    scrape: Callable[[], Scrape],
) -> None:
    ticket = make_ticket(session, personas.ann.ctx)
    session.commit()
    headers = personas.ann.headers
    before = scrape()

    assert client.get(f"/api/v1/tickets/{ticket.id}", headers=headers).status_code == 200
    assert client.get("/api/v1/tickets/987654", headers=headers).status_code == 404
    assert client.post("/api/v1/tickets", json={"subject": ""}, headers=headers).status_code == 422
    assert client.get("/no/such/page/4242").status_code == 404

    after = scrape()
    get = {"method": "GET", "route": TICKET_ROUTE}
    assert after.delta(before, REQUESTS, status="200", **get) == 1
    assert after.delta(before, REQUESTS, status="404", **get) == 1
    assert after.delta(before, REQUESTS, method="POST", route="/api/v1/tickets", status="422") == 1
    assert after.delta(before, REQUESTS, route=UNMATCHED_ROUTE, status="404") == 1
    # The histogram: one observation per request, by status class, in every bucket up to +Inf.
    assert after.delta(before, f"{HISTOGRAM}_count", status_class="2xx", **get) == 1
    assert after.delta(before, f"{HISTOGRAM}_count", status_class="4xx", **get) == 1
    assert after.delta(before, f"{HISTOGRAM}_bucket", le="+Inf", status_class="4xx", **get) == 1
    assert after.delta(before, f"{HISTOGRAM}_count", route="/api/v1/tickets", status_class="4xx")
    # Raw paths (ids, junk) never become label values.
    routes = after.label_values(REQUESTS, "route")
    assert TICKET_ROUTE in routes
    assert not any(re.search(r"\d{3,}", route) for route in routes)
    assert not any("no/such" in route for route in routes)


def test_the_scrape_itself_is_counted_under_its_route(scrape: Callable[[], Scrape]) -> None:
    before = scrape()
    after = scrape()
    assert after.delta(before, REQUESTS, method="GET", route="/metrics", status="200") == 1


def test_a_request_id_is_generated_or_taken_from_the_client(client: TestClient) -> None:
    generated = client.get("/health").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert client.get("/health").headers["x-request-id"] != generated

    given = client.get("/health", headers={"X-Request-ID": "lb-7f3a:42"})
    assert given.headers["x-request-id"] == "lb-7f3a:42"
    for bad in ("has spaces in it", "x" * 65, "-leading-dash", "<script>"):
        replaced = client.get("/health", headers={"X-Request-ID": bad}).headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", replaced), bad


def test_error_responses_carry_the_request_id(client: TestClient) -> None:
    r = client.get("/api/v1/tickets", headers={"X-Request-ID": "trace-404"})
    assert r.status_code == 401
    assert r.headers["x-request-id"] == "trace-404"


def test_streamed_responses_pass_through_unbuffered() -> None:
    """Each body chunk reaches the server as it is sent: the second chunk is only produced once
    the first has been delivered, so a middleware that buffered would never finish."""
    first_delivered = asyncio.Event()
    delivered: list[Message] = []

    async def stream(scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        await send({"type": "http.response.body", "body": b"data: one\n\n", "more_body": True})
        await first_delivered.wait()
        await send({"type": "http.response.body", "body": b"data: two\n\n", "more_body": False})

    async def server_send(message: Message) -> None:
        delivered.append(message)
        if message.get("body") == b"data: one\n\n":
            first_delivered.set()

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    app = RequestIdMiddleware(MetricsMiddleware(stream))
    scope: Scope = {"type": "http", "method": "GET", "path": "/events", "headers": []}
    asyncio.run(asyncio.wait_for(app(scope, receive, server_send), timeout=10))

    assert [m["type"] for m in delivered] == [
        "http.response.start",
        "http.response.body",
        "http.response.body",
    ]
    assert [m.get("body") for m in delivered[1:]] == [b"data: one\n\n", b"data: two\n\n"]
    assert (b"x-request-id", scope["state"]["request_id"].encode()) in delivered[0]["headers"]
