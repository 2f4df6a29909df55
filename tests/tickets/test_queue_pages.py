"""The agent console's queue pages: /app, /app/queue/views, /app/bulk and /app/events."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from deskpilot.escalations import service as escalations_service
from deskpilot.tickets import live
from deskpilot.tickets import service as tickets_service
from deskpilot.tickets.models import Ticket
from deskpilot.tickets.schemas import TicketUpdate
from tests.factories import Personas, make_ticket
from tests.pages import HTMX, sign_in


def _rows(html: str) -> list[int]:
    """Ticket numbers of the table rows, in order."""
    return [int(n) for n in re.findall(r'data-ticket="(\d+)"', html)]


def _count(html: str, view: str) -> int:
    match = re.search(rf'data-view-count="{re.escape(view)}">(\d+)<', html)
    assert match, f"no count for view {view}"
    return int(match.group(1))


@pytest.fixture
def queue(session: Session, personas: Personas) -> dict[str, Ticket]:
    """acme: two tickets for ann, one unassigned in Support, one waiting on the customer, one
    escalated, one closed; globex: one ticket."""
    admin = personas.acme_admin.ctx
    support = personas.teams["acme_support"]
    made = {
        "ann_1": make_ticket(session, admin, subject="Refund request", assignee_id=personas.ann.user_id, priority="high", tags=["vip"]),
        "ann_2": make_ticket(session, admin, subject="Broken export", assignee_id=personas.ann.user_id, type="bug"),
        "support": make_ticket(session, admin, subject="Printer jam", team_id=support, channel="email"),
        "waiting": make_ticket(session, admin, subject="Need logs", assignee_id=personas.bob.user_id),
        "escalated": make_ticket(session, admin, subject="Angry customer"),
        "closed": make_ticket(session, admin, subject="Old question"),
    }  # fmt: skip
    tickets_service.update_ticket(
        session, admin, made["waiting"].id, TicketUpdate(status="waiting_customer")
    )
    for target in ("resolved", "closed"):
        tickets_service.update_ticket(
            session, admin, made["closed"].id, TicketUpdate(status=target)
        )
    escalations_service.escalate_ticket(session, admin, made["escalated"].id, reason="manual")
    made["globex"] = make_ticket(session, personas.gina.ctx, subject="Globex refund")
    session.commit()
    return made


def test_anonymous_is_sent_to_sign_in(client: TestClient, personas: Personas) -> None:
    for url in ("/app", "/app/queue/views", "/app/events"):
        r = client.get(url, follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["location"].startswith("/login?next=")


def test_customers_get_the_forbidden_page(client: TestClient, personas: Personas) -> None:
    sign_in(client, personas.carol)
    for url in ("/app", "/app/queue/views", "/app/events"):
        r = client.get(url)
        assert r.status_code == 403
        assert "<html" in r.text


@pytest.mark.parametrize("who", ["ann", "acme_admin"])
def test_queue_shows_views_with_counts(
    client: TestClient, personas: Personas, queue: dict[str, Ticket], who: str
) -> None:
    sign_in(client, getattr(personas, who))
    html = client.get("/app?view=all").text
    assert "<html" in html
    assert 'id="queue-views"' in html
    support = f"team-{personas.teams['acme_support']}"
    billing = f"team-{personas.teams['acme_billing']}"
    assert _count(html, "mine") == (2 if who == "ann" else 0)
    assert _count(html, "unassigned") == 2  # support + escalated (closed is not open)
    assert _count(html, support) == 1
    assert _count(html, billing) == 0
    assert _count(html, "escalated") == 1
    assert _count(html, "waiting") == 1
    assert _count(html, "all") == 6
    assert "Billing" in html
    assert "Globex" not in html
    assert sorted(_rows(html)) == sorted(t.number for k, t in queue.items() if k != "globex")


def test_views_select_their_tickets(
    client: TestClient, personas: Personas, queue: dict[str, Ticket]
) -> None:
    sign_in(client, personas.ann)
    mine = client.get("/app").text
    assert "My open tickets" in mine
    assert sorted(_rows(mine)) == sorted([queue["ann_1"].number, queue["ann_2"].number])
    support = personas.teams["acme_support"]
    assert _rows(client.get(f"/app?view=team-{support}").text) == [queue["support"].number]
    assert _rows(client.get("/app?view=escalated").text) == [queue["escalated"].number]
    assert _rows(client.get("/app?view=waiting").text) == [queue["waiting"].number]
    unassigned = client.get("/app?view=unassigned").text
    assert queue["closed"].number not in _rows(unassigned)


def test_rows_show_the_ticket(
    client: TestClient, personas: Personas, queue: dict[str, Ticket]
) -> None:
    sign_in(client, personas.ann)
    html = client.get("/app").text
    number = queue["ann_1"].number
    assert f'href="/app/tickets/{number}">Refund request</a>' in html
    assert "badge-priority-high" in html
    assert '<span class="tag">vip</span>' in html
    assert "Dave" in html
    assert "Ann" in html
    assert "data-nav-list" in html
    assert 'data-shortcut="slash"' in html
    assert 'data-sse-url="/app/events"' in html
    assert 'data-sse-refresh="#queue-results' in html


def test_filters_narrow_the_view(
    client: TestClient, personas: Personas, queue: dict[str, Ticket]
) -> None:
    sign_in(client, personas.ann)

    def rows(query: str) -> list[int]:
        return _rows(client.get(f"/app?view=all&{query}").text)

    assert rows("priority=high") == [queue["ann_1"].number]
    assert rows("type=bug") == [queue["ann_2"].number]
    assert rows("tag=VIP") == [queue["ann_1"].number]
    assert rows("channel=email") == [queue["support"].number]
    assert rows("status=closed") == [queue["closed"].number]
    assert rows(f"assignee={personas.bob.user_id}") == [queue["waiting"].number]
    assert sorted(rows("assignee=none")) == sorted(
        [queue["support"].number, queue["escalated"].number, queue["closed"].number]
    )
    assert rows(f"team={personas.teams['acme_support']}") == [queue["support"].number]
    assert rows("q=refund") == [queue["ann_1"].number]  # not globex's refund
    assert rows("created_from=2000-01-01&created_to=2000-01-02") == []
    assert len(rows("created_from=2000-01-01")) == 6
    # Unknown values are dropped rather than failing the page.
    assert len(rows("status=bogus&priority=nope&sort=sideways")) == 6
    # A view and a filter that contradict each other match nothing.
    assert _rows(client.get("/app?view=waiting&status=new").text) == []
    html = client.get("/app?view=all&q=zzzzunmatched").text
    assert "No tickets match these filters" in html
    assert "Clear filters" in html


def test_sorts(client: TestClient, personas: Personas, queue: dict[str, Ticket]) -> None:
    sign_in(client, personas.ann)
    numbers = sorted(t.number for k, t in queue.items() if k != "globex")
    assert _rows(client.get("/app?view=all&sort=number").text) == numbers
    assert _rows(client.get("/app?view=all&sort=oldest").text) == numbers
    assert _rows(client.get("/app?view=all").text) == numbers[::-1]


def test_htmx_gets_the_results_partial(
    client: TestClient, personas: Personas, queue: dict[str, Ticket]
) -> None:
    sign_in(client, personas.ann)
    r = client.get("/app?view=all&priority=high", headers=HTMX)
    assert r.status_code == 200
    assert "<html" not in r.text
    assert r.text.lstrip().startswith('<section id="queue-results"')
    assert 'hx-get="/app?view=all&amp;priority=high"' in r.text
    assert _rows(r.text) == [queue["ann_1"].number]
    views = client.get("/app/queue/views?view=escalated", headers=HTMX).text
    assert views.lstrip().startswith('<nav id="queue-views"')
    assert "<html" not in views
    assert _count(views, "escalated") == 1
    assert re.search(r'href="/app\?view=escalated" aria-current="page"', views)


def test_empty_states(client: TestClient, personas: Personas) -> None:
    sign_in(client, personas.ann)
    assert "Nothing assigned to you" in client.get("/app").text
    assert "No escalations" in client.get("/app?view=escalated").text


def test_other_workspaces_teams_and_unknown_views_are_404(
    client: TestClient, personas: Personas, queue: dict[str, Ticket]
) -> None:
    sign_in(client, personas.ann)
    assert client.get(f"/app?view=team-{personas.teams['globex_support']}").status_code == 404
    assert client.get("/app?view=nonsense").status_code == 404
    assert client.get("/app/queue/views?view=nonsense").status_code == 404
    # A filter naming another workspace's team or agent finds nothing of theirs.
    assert _rows(client.get(f"/app?view=all&team={personas.teams['globex_support']}").text) == []
    assert _rows(client.get(f"/app?view=all&assignee={personas.gina.user_id}").text) == []


def test_paging_with_next_and_previous(
    client: TestClient, session: Session, personas: Personas
) -> None:
    for i in range(55):
        make_ticket(session, personas.ann.ctx, subject=f"Bulk {i}")
    session.commit()
    sign_in(client, personas.ann)
    first = client.get("/app?view=all&sort=number").text
    assert _rows(first) == list(range(1, 51))
    assert 'rel="prev"' not in first
    next_url = re.search(r'rel="next" href="([^"]+)"', first)
    assert next_url
    second = client.get(next_url.group(1).replace("&amp;", "&")).text
    assert _rows(second) == list(range(51, 56))
    assert 'rel="next"' not in second
    prev_url = re.search(r'rel="prev" href="([^"]+)"', second)
    assert prev_url
    assert _rows(client.get(prev_url.group(1).replace("&amp;", "&")).text) == list(range(1, 51))


def _bulk(client: TestClient, csrf: str, ids: list[int], **form: str) -> str:
    data: dict[str, object] = {"csrf_token": csrf, "ticket_ids": [str(i) for i in ids], **form}
    r = client.post("/app/bulk", data=data, follow_redirects=False)
    assert r.status_code == 303, r.text
    return client.get(r.headers["location"]).text


def test_bulk_assign_status_priority_and_tag(
    client: TestClient, session: Session, personas: Personas, queue: dict[str, Ticket]
) -> None:
    csrf = sign_in(client, personas.bob)
    ids = [queue["support"].id, queue["escalated"].id]
    html = _bulk(
        client, csrf, ids, action="assign", assignee=str(personas.bob.user_id), next="/app"
    )
    assert "2 updated" in html
    assert sorted(_rows(html)) == sorted(
        [queue["support"].number, queue["escalated"].number, queue["waiting"].number]
    )
    _bulk(client, csrf, ids, action="priority", priority="urgent", next="/app")
    _bulk(client, csrf, ids, action="tag", tag="Follow up", next="/app")
    _bulk(client, csrf, ids, action="assign", assignee="", next="/app")
    session.expire_all()
    for ticket_id in ids:
        ticket = tickets_service.get_ticket(session, personas.bob.ctx, ticket_id)
        assert ticket.priority == "urgent"
        assert "follow-up" in ticket.tags
        assert ticket.assignee_id is None
        kinds = [e.kind for e in tickets_service.list_events(session, personas.bob.ctx, ticket_id)]
        assert kinds.count("assigned") == 2
        assert "priority_changed" in kinds
        assert "tagged" in kinds


def test_bulk_reports_refusals_without_undoing_the_rest(
    client: TestClient, session: Session, personas: Personas, queue: dict[str, Ticket]
) -> None:
    csrf = sign_in(client, personas.ann)
    ids = [queue["ann_1"].id, queue["ann_2"].id, queue["closed"].id, queue["globex"].id]
    html = _bulk(client, csrf, ids, action="status", status="resolved", next="/app?view=all")
    closed, globex = queue["closed"].number, queue["globex"].id
    assert f"2 updated, 2 skipped: #{closed} cannot go from closed to resolved" in html
    assert f"ticket {globex} not found" in html
    session.expire_all()
    assert (
        tickets_service.get_ticket(session, personas.ann.ctx, queue["ann_1"].id).status
        == "resolved"
    )
    assert (
        tickets_service.get_ticket(session, personas.ann.ctx, queue["closed"].id).status == "closed"
    )
    assert tickets_service.get_ticket(session, personas.gina.ctx, globex).status == "new"


def test_bulk_rejects_bad_requests(
    client: TestClient, session: Session, personas: Personas, queue: dict[str, Ticket]
) -> None:
    csrf = sign_in(client, personas.ann)
    ticket_id = str(queue["support"].id)
    r = client.post(
        "/app/bulk", data={"ticket_ids": ticket_id, "action": "status", "status": "closed"}
    )
    assert r.status_code == 403
    assert "form expired" in r.text
    assert "Select at least one ticket" in _bulk(client, csrf, [], action="status", status="new")
    assert "Choose a status" in _bulk(
        client, csrf, [queue["support"].id], action="status", status="x"
    )
    assert "Choose what to change" in _bulk(client, csrf, [queue["support"].id], action="delete")
    # Only same-site queue pages are followed back.
    r = client.post(
        "/app/bulk",
        data={"csrf_token": csrf, "ticket_ids": ticket_id, "action": "priority", "priority": "low", "next": "https://evil.example/"},
        follow_redirects=False,
    )  # fmt: skip
    assert r.headers["location"] == "/app"
    session.expire_all()
    assert (
        tickets_service.get_ticket(session, personas.ann.ctx, queue["support"].id).priority == "low"
    )


def test_customers_cannot_bulk_update(
    client: TestClient, session: Session, personas: Personas, queue: dict[str, Ticket]
) -> None:
    csrf = sign_in(client, personas.carol)
    r = client.post(
        "/app/bulk",
        data={"csrf_token": csrf, "ticket_ids": str(queue["support"].id), "action": "priority", "priority": "low"},
    )  # fmt: skip
    assert r.status_code == 403
    session.expire_all()
    assert (
        tickets_service.get_ticket(session, personas.ann.ctx, queue["support"].id).priority
        == "normal"
    )


def test_event_stream_endpoint(
    client: TestClient,
    personas: Personas,
    queue: dict[str, Ticket],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A short stream: two polls with no wait, so the test client can read it to the end.
    monkeypatch.setattr(live, "POLL_SECONDS", 0)
    monkeypatch.setattr(live, "MAX_POLLS", 2)
    monkeypatch.setattr(live, "HEARTBEAT_EVERY", 1)
    sign_in(client, personas.ann)
    r = client.get("/app/events")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.text.startswith("retry: ")
    assert ": heartbeat" in r.text
    assert "changed" not in r.text
    stale = client.get("/app/events", headers={"Last-Event-ID": "stale"})
    assert "data: changed" in stale.text
