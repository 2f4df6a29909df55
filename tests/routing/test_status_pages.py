"""Availability pages: each staff member's own control (/app/me) and the admin table (/admin/agents)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from deskpilot.db.engine import Database
from deskpilot.routing import service
from deskpilot.routing.schemas import Availability, Strategy
from deskpilot.routing.service import AgentState
from tests.factories import Persona, Personas, api_ticket
from tests.pages import HTMX, sign_in
from tests.routing.conftest import staff_team


def _state(db: Database, persona: Persona, user_id: int) -> AgentState:
    with db.session(write=False) as s:
        return service.get_agent_status(s, persona.ctx, user_id)


def _row(html: str, user_id: int) -> str:
    start = html.index(f'id="agent-{user_id}"')
    return html[start : html.index("</tr>", start)]


# --- my availability -----------------------------------------------------------------------------


def test_the_top_bar_loads_the_availability_control_lazily_with_a_no_js_link(
    client: TestClient, personas: Personas
) -> None:
    sign_in(client, personas.ann)
    html = client.get("/app").text
    assert 'hx-get="/app/me/availability?next=/app" hx-trigger="load"' in html
    assert '<a href="/app/me?next=/app"' in html


@pytest.mark.parametrize("path", ["/app/me", "/app/me/availability"])
def test_my_availability_is_a_full_page_or_an_htmx_fragment(
    client: TestClient, personas: Personas, path: str
) -> None:
    sign_in(client, personas.ann)
    full = client.get(path, params={"next": "/app/tickets?x=1"})
    assert full.status_code == 200
    assert "<h1>My availability</h1>" in full.text
    assert '<option value="offline" selected>Offline</option>' in full.text
    assert 'name="next" value="/app/tickets?x=1"' in full.text
    fragment = client.get(path, params={"next": "https://evil.example/"}, headers=HTMX)
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert "<h1>" not in fragment.text
    assert 'hx-post="/app/me/availability"' in fragment.text
    assert 'name="next" value="/app/me"' in fragment.text  # an outside URL is never followed


@pytest.mark.parametrize("path", ["/app/me", "/app/me/availability"])
def test_customers_have_no_availability_and_anonymous_visitors_sign_in(
    client: TestClient, personas: Personas, path: str
) -> None:
    r = client.get(path, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith(f"/login?next={path}")
    csrf = sign_in(client, personas.carol)
    assert client.get(path).status_code == 403
    r = client.post("/app/me/availability", data={"csrf_token": csrf, "availability": "online"})
    assert r.status_code == 403


def test_an_agent_sets_their_own_availability_and_goes_back_where_they_were(
    client: TestClient, personas: Personas, db: Database
) -> None:
    csrf = sign_in(client, personas.ann)
    r = client.post(
        "/app/me/availability",
        data={"csrf_token": csrf, "availability": "away", "next": "/app?view=mine"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/app?view=mine"
    assert _state(db, personas.ann, personas.ann.user_id).availability == Availability.away
    assert "You are away." in client.get("/app/me").text
    # An outside `next` is replaced by the availability page.
    r = client.post(
        "/app/me/availability",
        data={"csrf_token": csrf, "availability": "offline", "next": "//evil.example/x"},
        follow_redirects=False,
    )
    assert r.headers["location"] == "/app/me"
    assert _state(db, personas.ann, personas.ann.user_id).availability == Availability.offline


def test_the_htmx_post_swaps_the_control_with_a_message(
    client: TestClient, personas: Personas, db: Database
) -> None:
    csrf = sign_in(client, personas.bob)
    r = client.post(
        "/app/me/availability",
        data={"csrf_token": csrf, "availability": "online", "next": "/app"},
        headers=HTMX,
    )
    assert r.status_code == 200
    assert "<html" not in r.text
    assert '<option value="online" selected>Online</option>' in r.text
    assert '<span class="muted small" role="status">You are online.</span>' in r.text
    assert _state(db, personas.bob, personas.bob.user_id).availability == Availability.online


def test_my_availability_needs_the_csrf_token(
    client: TestClient, personas: Personas, db: Database
) -> None:
    sign_in(client, personas.ann)
    r = client.post("/app/me/availability", data={"availability": "online"})
    assert r.status_code == 403
    assert _state(db, personas.ann, personas.ann.user_id).availability == Availability.offline


def test_an_unknown_availability_is_422_with_the_message(
    client: TestClient, personas: Personas, db: Database
) -> None:
    csrf = sign_in(client, personas.ann)
    r = client.post(
        "/app/me/availability", data={"csrf_token": csrf, "availability": "busy"}, headers=HTMX
    )
    assert r.status_code == 422
    assert 'id="my-availability-error" role="alert">Input should be' in r.text
    assert _state(db, personas.ann, personas.ann.user_id).availability == Availability.offline


def test_coming_online_assigns_a_queued_ticket_and_says_so(
    client: TestClient, personas: Personas, session: Session
) -> None:
    team = staff_team(session, personas, Strategy.round_robin, {"ann": (Availability.away, 5)})
    queued = api_ticket(client, personas.bob, subject="waiting", team_id=team)["id"]
    url = f"/api/v1/tickets/{queued}"
    assert client.get(url, headers=personas.bob.headers).json()["assignee_id"] is None

    csrf = sign_in(client, personas.ann)
    r = client.post(
        "/app/me/availability",
        data={"csrf_token": csrf, "availability": "online", "next": "/app"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "You are online. 1 queued ticket was assigned to you." in client.get("/app/me").text
    ticket = client.get(url, headers=personas.bob.headers).json()
    assert ticket["assignee_id"] == personas.ann.user_id


# --- admin: agents' status -----------------------------------------------------------------------


@pytest.mark.parametrize(("who", "status"), [("ann", 403), ("carol", 403), ("acme_admin", 200)])
def test_the_agents_page_is_for_admins(
    client: TestClient, personas: Personas, who: str, status: int
) -> None:
    sign_in(client, getattr(personas, who))
    r = client.get("/admin/agents")
    assert r.status_code == status
    if status == 200:
        assert "<h1>Agents' status</h1>" in r.text


def test_the_agents_page_sends_anonymous_visitors_to_sign_in(
    client: TestClient, personas: Personas
) -> None:
    r = client.get("/admin/agents", follow_redirects=False)
    assert r.headers["location"].startswith("/login?next=/admin/agents")


def test_the_agents_page_lists_this_workspaces_staff_with_status_load_and_skills(
    client: TestClient, personas: Personas, db: Database
) -> None:
    api_ticket(client, personas.ann, assignee_id=personas.ann.user_id)
    client.put(
        f"/api/v1/agents/{personas.bob.user_id}/status",
        json={"availability": "online", "capacity": 4, "skills": ["billing", "outage"]},
        headers=personas.acme_admin.headers,
    )
    sign_in(client, personas.acme_admin)
    html = client.get("/admin/agents").text
    for persona in (personas.acme_owner, personas.acme_admin, personas.ann, personas.bob):
        assert f'id="agent-{persona.user_id}"' in html
    assert personas.carol.email not in html
    assert personas.gina.email not in html
    ann = _row(html, personas.ann.user_id)
    assert "<td>1 / 10</td>" in ann
    assert ">Offline</span>" in ann
    bob = _row(html, personas.bob.user_id)
    assert "<td>0 / 4</td>" in bob
    assert ">Online</span>" in bob
    assert "Skills: billing, outage" in bob
    assert 'value="billing, outage"' in bob
    assert "(you)" in _row(html, personas.acme_admin.user_id)
    # The Teams and Users pages link here.
    for page in ("/admin/teams", "/admin/users"):
        assert '<a class="btn btn-ghost" href="/admin/agents">' in client.get(page).text


def test_an_admin_sets_availability_capacity_and_skills(
    client: TestClient, personas: Personas, db: Database
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    bob = personas.bob.user_id
    form = {
        "csrf_token": csrf,
        "availability": "away",
        "capacity": "3",
        "skills": "Billing, billing ,x",
    }
    r = client.post(f"/admin/agents/{bob}", data=form, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/admin/agents"
    state = _state(db, personas.acme_admin, bob)
    assert (state.availability, state.capacity, state.skills) == (
        Availability.away,
        3,
        ["Billing", "x"],
    )
    assert "Saved Bob: away, capacity 3." in client.get("/admin/agents").text
    # An empty skills box clears them.
    client.post(f"/admin/agents/{bob}", data=form | {"skills": ""})
    assert _state(db, personas.acme_admin, bob).skills == []


def test_an_htmx_save_swaps_the_table(client: TestClient, personas: Personas, db: Database) -> None:
    csrf = sign_in(client, personas.acme_admin)
    ann = personas.ann.user_id
    r = client.post(
        f"/admin/agents/{ann}",
        data={"csrf_token": csrf, "availability": "online", "capacity": "2", "skills": ""},
        headers=HTMX,
    )
    assert r.status_code == 200
    assert r.text.lstrip().startswith('<section id="agents-table"')
    assert "Saved Ann: online, capacity 2." in r.text
    assert ">Online</span>" in _row(r.text, ann)
    assert _state(db, personas.ann, ann).capacity == 2


@pytest.mark.parametrize(
    ("capacity", "message"),
    [("501", "less than or equal to 500"), ("-1", "greater than or equal to 0"), ("x", "integer")],
)
def test_a_bad_capacity_is_422_inline_and_keeps_what_was_typed(
    client: TestClient, personas: Personas, db: Database, capacity: str, message: str
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    bob = personas.bob.user_id
    r = client.post(
        f"/admin/agents/{bob}",
        data={"csrf_token": csrf, "availability": "online", "capacity": capacity, "skills": "a"},
    )
    assert r.status_code == 422
    row = _row(r.text, bob)
    assert f'value="{capacity}"' in row
    assert "Capacity: " in row
    assert message in row
    assert 'aria-invalid="true"' in row
    state = _state(db, personas.acme_admin, bob)
    assert (state.availability, state.capacity) == (Availability.offline, 10)


def test_agents_cannot_set_anyone_through_the_admin_page(
    client: TestClient, personas: Personas, db: Database
) -> None:
    csrf = sign_in(client, personas.ann)
    for user_id in (personas.bob.user_id, personas.ann.user_id):
        r = client.post(
            f"/admin/agents/{user_id}",
            data={"csrf_token": csrf, "availability": "online", "capacity": "50", "skills": ""},
        )
        assert r.status_code == 403
        assert _state(db, personas.acme_admin, user_id).availability == Availability.offline
    # The own-availability form has no way to name someone else: extra fields are ignored.
    client.post(
        "/app/me/availability",
        data={"csrf_token": csrf, "availability": "online", "user_id": str(personas.bob.user_id)},
    )
    assert (
        _state(db, personas.acme_admin, personas.bob.user_id).availability == Availability.offline
    )
    assert _state(db, personas.acme_admin, personas.ann.user_id).availability == Availability.online


def test_the_admin_form_needs_the_csrf_token(
    client: TestClient, personas: Personas, db: Database
) -> None:
    sign_in(client, personas.acme_admin)
    bob = personas.bob.user_id
    r = client.post(f"/admin/agents/{bob}", data={"availability": "online", "capacity": "5"})
    assert r.status_code == 403
    assert _state(db, personas.acme_admin, bob).availability == Availability.offline


@pytest.mark.parametrize("who", ["gina", "carol"])
def test_another_workspaces_user_or_a_customer_is_404(
    client: TestClient, personas: Personas, who: str
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    user_id = getattr(personas, who).user_id
    r = client.post(
        f"/admin/agents/{user_id}",
        data={"csrf_token": csrf, "availability": "online", "capacity": "5", "skills": ""},
    )
    assert r.status_code == 404
