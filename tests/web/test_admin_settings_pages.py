"""Admin overview, workspace settings and team pages (/admin, /admin/workspace, /admin/teams)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from deskpilot.core.errors import PermissionDenied, ValidationFailed
from deskpilot.db.engine import Database
from deskpilot.routing import service as routing_service
from deskpilot.routing.schemas import Strategy
from deskpilot.tickets.lifecycle import Status
from deskpilot.workspaces import service as workspaces_service
from deskpilot.workspaces.models import Team, Workspace
from tests.factories import Personas, make_ticket
from tests.pages import HTMX, sign_in

ADMIN_PAGES = ["/admin", "/admin/workspace", "/admin/teams"]


# --- who may open the admin pages ----------------------------------------------------------------


@pytest.mark.parametrize("path", ADMIN_PAGES)
@pytest.mark.parametrize("who", ["acme_owner", "acme_admin"])
def test_owners_and_admins_get_the_admin_shell(
    client: TestClient, personas: Personas, path: str, who: str
) -> None:
    sign_in(client, getattr(personas, who))
    r = client.get(path)
    assert r.status_code == 200
    assert 'aria-label="Admin sections"' in r.text
    for link in ("/admin/users", "/admin/teams", "/admin/tokens", "/admin/ai", "/admin/kb"):
        assert f'href="{link}"' in r.text
    assert f'<a href="{path}" aria-current="page">' in r.text


@pytest.mark.parametrize("path", ADMIN_PAGES)
@pytest.mark.parametrize("who", ["ann", "carol"])
def test_agents_and_customers_get_403(
    client: TestClient, personas: Personas, path: str, who: str
) -> None:
    sign_in(client, getattr(personas, who))
    r = client.get(path)
    assert r.status_code == 403
    assert "You can&#39;t open this page" in r.text


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_anonymous_visitors_are_sent_to_sign_in(
    client: TestClient, personas: Personas, path: str
) -> None:
    r = client.get(path, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login?next=" + path)


# --- overview ------------------------------------------------------------------------------------


def test_overview_counts_people_teams_and_open_tickets(
    client: TestClient, personas: Personas, session: Session
) -> None:
    ann = personas.ann.ctx
    make_ticket(session, ann, subject="Open one")
    done = make_ticket(session, ann, subject="Done one")
    done.status = Status.closed.value
    make_ticket(session, personas.gina.ctx, subject="Other workspace")
    session.commit()
    sign_in(client, personas.acme_admin)
    r = client.get("/admin")
    html = r.text
    assert "<h1>Acme</h1>" in html
    # acme: 1 owner, 1 admin, 2 agents; 2 teams; 1 open ticket (globex's is not counted).
    assert '<dd><a href="/admin/users">4</a></dd>' in html
    assert "1 owner, 1 admin, 2 agents" in html
    assert '<dd><a href="/admin/teams">2</a></dd>' in html
    assert '<dd><a href="/app">1</a></dd>' in html
    assert "1 with a help-center account" in html
    assert "Provider <strong>builtin</strong>" in html
    assert 'badge-on">On' in html
    assert 'href="/help/acme"' in html


def test_overview_gives_notice_of_switched_off_webhook_endpoints(
    client: TestClient, personas: Personas, session: Session
) -> None:
    from deskpilot.webhooks import service as webhooks_service
    from deskpilot.webhooks.schemas import EndpointCreate

    sign_in(client, personas.acme_admin)
    assert "Webhook endpoints switched off" not in client.get("/admin").text
    admin = personas.acme_admin.ctx
    endpoint = webhooks_service.create_endpoint(
        session, admin, EndpointCreate(url="https://hooks.acme.example/in", events=["*"])
    )
    webhooks_service.disable(endpoint, "Disabled after 20 failed attempts in a row (last: 502)")
    other = webhooks_service.create_endpoint(
        session,
        personas.globex_owner.ctx,
        EndpointCreate(url="https://globex.example/hook", events=["*"]),
    )
    webhooks_service.disable(other, "globex-only failure")
    session.commit()
    html = client.get("/admin").text
    assert "Webhook endpoints switched off" in html
    assert "https://hooks.acme.example/in" in html
    assert "20 failed attempts in a row" in html
    assert "globex" not in html


# --- workspace settings --------------------------------------------------------------------------


def _workspace(db: Database, slug: str) -> Workspace:
    with db.session(write=False) as s:
        workspace = workspaces_service.get_workspace_by_slug(s, slug)
        assert workspace is not None
        s.expunge(workspace)
        return workspace


def test_workspace_settings_save_the_help_center_look(
    client: TestClient, personas: Personas, db: Database
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    r = client.get("/admin/workspace")
    assert 'name="name" type="text" value="Acme"' in r.text
    assert 'id="brand-preview"' in r.text
    form = {
        "csrf_token": csrf,
        "name": "Acme Inc",
        "title": "Acme Help",
        "logo_url": "https://cdn.acme.example.com/logo.png",
        "color": "#AA3300",
    }
    r = client.post("/admin/workspace", data=form, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/admin/workspace"
    workspace = _workspace(db, "acme")
    assert workspace.name == "Acme Inc"
    assert workspace.settings["help_center"] == {
        "title": "Acme Help",
        "logo_url": "https://cdn.acme.example.com/logo.png",
        "color": "#aa3300",
    }
    look = workspaces_service.help_center_look(workspace)
    assert (look.name, look.color) == ("Acme Help", "#aa3300")
    page = client.get("/admin/workspace").text
    assert "Workspace settings saved." in page
    assert 'value="#aa3300"' in page
    assert _workspace(db, "globex").settings.get("help_center") is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("logo_url", "javascript:alert(1)", "an http(s) address"),
        ("logo_url", "ftp://example.com/logo.png", "an http(s) address"),
        ("color", "red; background: url(x)", "a colour such as #2f5bea"),
        ("color", "#12345", "a colour such as #2f5bea"),
        ("name", "   ", "1-200 characters"),
    ],
)
def test_invalid_workspace_settings_are_shown_next_to_the_field(
    client: TestClient, personas: Personas, db: Database, field: str, value: str, message: str
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    form = {"csrf_token": csrf, "name": "Acme", "title": "", "logo_url": "", "color": "#2f5bea"}
    r = client.post("/admin/workspace", data={**form, field: value})
    assert r.status_code == 422
    assert f'<p class="field-error" id="{field}-error">{message}' in r.text
    assert _workspace(db, "acme").settings.get("help_center") is None


def test_workspace_preview_is_an_htmx_fragment_that_saves_nothing(
    client: TestClient, personas: Personas, db: Database
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    form = {"name": "Acme", "title": "Shiny", "logo_url": "", "color": "#00aa00"}
    r = client.post("/admin/workspace/preview", data={**form, "csrf_token": csrf}, headers=HTMX)
    assert r.status_code == 200
    assert r.text.lstrip().startswith('<div id="brand-preview"')
    assert "background: #00aa00" in r.text
    assert "Shiny" in r.text
    # An unsafe colour never reaches the style attribute.
    r = client.post(
        "/admin/workspace/preview",
        data={**form, "color": "red;}</style>", "csrf_token": csrf},
        headers=HTMX,
    )
    assert "background: #2f5bea" in r.text
    assert "</style>" not in r.text
    assert _workspace(db, "acme").settings.get("help_center") is None


def test_workspace_forms_need_the_csrf_token(
    client: TestClient, personas: Personas, db: Database
) -> None:
    sign_in(client, personas.acme_admin)
    form = {"name": "Hijacked", "title": "", "logo_url": "", "color": "#000000"}
    r = client.post("/admin/workspace", data=form)
    assert r.status_code == 403
    assert _workspace(db, "acme").name == "Acme"


def test_agents_cannot_change_workspace_settings(
    client: TestClient, personas: Personas, db: Database
) -> None:
    csrf = sign_in(client, personas.ann)
    form = {"csrf_token": csrf, "name": "Ann's", "title": "", "logo_url": "", "color": ""}
    assert client.post("/admin/workspace", data=form).status_code == 403
    assert _workspace(db, "acme").name == "Acme"


# --- teams ---------------------------------------------------------------------------------------


def _team(db: Database, team_id: int) -> Team | None:
    with db.session(write=False) as s:
        team = s.get(Team, team_id)
        if team is not None:
            s.expunge(team)
        return team


def test_team_list_shows_only_this_workspaces_teams(client: TestClient, personas: Personas) -> None:
    sign_in(client, personas.acme_admin)
    html = client.get("/admin/teams").text
    assert f'href="/admin/teams/{personas.teams["acme_support"]}">Support</a>' in html
    assert f'href="/admin/teams/{personas.teams["acme_billing"]}">Billing</a>' in html
    assert f'/admin/teams/{personas.teams["globex_support"]}"' not in html
    assert "Manual (agents pick tickets)" in html


def test_create_rename_and_delete_a_team(
    client: TestClient, personas: Personas, db: Database
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    r = client.post(
        "/admin/teams",
        data={"csrf_token": csrf, "name": "Escalations", "description": "Tier 2"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    team_id = int(r.headers["location"].rsplit("/", 1)[1])
    page = client.get(r.headers["location"]).text
    assert "Team Escalations created." in page
    assert "<h1>Team Escalations</h1>" in page

    r = client.post(
        f"/admin/teams/{team_id}",
        data={"csrf_token": csrf, "name": "Tier 2", "description": "Hard cases"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    team = _team(db, team_id)
    assert team is not None
    assert (team.name, team.description) == ("Tier 2", "Hard cases")

    r = client.post(
        f"/admin/teams/{team_id}/delete", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert r.headers["location"] == "/admin/teams"
    assert _team(db, team_id) is None
    assert "Team Tier 2 deleted." in client.get("/admin/teams").text


def test_duplicate_or_blank_team_names_are_refused_inline(
    client: TestClient, personas: Personas
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    r = client.post("/admin/teams", data={"csrf_token": csrf, "name": "support"})
    assert r.status_code == 409
    assert '<p class="field-error" id="name-error">already used by another team</p>' in r.text
    r = client.post("/admin/teams", data={"csrf_token": csrf, "name": "  "})
    assert r.status_code == 422
    assert 'id="name-error"' in r.text
    billing = personas.teams["acme_billing"]
    r = client.post(f"/admin/teams/{billing}", data={"csrf_token": csrf, "name": "Support"})
    assert r.status_code == 409
    assert "already used by another team" in r.text


def test_add_and_remove_members_with_htmx_swaps_the_members_panel(
    client: TestClient, personas: Personas, db: Database
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    team_id = personas.teams["acme_support"]
    full = client.get(f"/admin/teams/{team_id}").text
    assert "Nobody is on this team yet." in full
    assert f'<option value="{personas.ann.user_id}">Ann (agent)</option>' in full
    # Customers and other workspaces' agents are not offered.
    assert f'value="{personas.carol.user_id}"' not in full
    assert f'value="{personas.gina.user_id}"' not in full

    r = client.post(
        f"/admin/teams/{team_id}/members",
        data={"csrf_token": csrf, "user_id": personas.ann.user_id},
        headers=HTMX,
    )
    assert r.status_code == 200
    assert r.text.lstrip().startswith('<section id="team-members"')
    assert "Members (1)" in r.text
    assert "<strong>Ann</strong>" in r.text
    with db.session(write=False) as s:
        ctx = personas.acme_admin.ctx
        assert workspaces_service.list_team_member_ids(s, ctx, team_id) == [personas.ann.user_id]

    r = client.post(
        f"/admin/teams/{team_id}/members/{personas.ann.user_id}/remove",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "Member removed." in client.get(r.headers["location"]).text
    with db.session(write=False) as s:
        assert workspaces_service.list_team_member_ids(s, personas.acme_admin.ctx, team_id) == []


def test_a_customer_cannot_join_a_team(client: TestClient, personas: Personas) -> None:
    csrf = sign_in(client, personas.acme_admin)
    team_id = personas.teams["acme_support"]
    r = client.post(
        f"/admin/teams/{team_id}/members",
        data={"csrf_token": csrf, "user_id": personas.carol.user_id},
    )
    assert r.status_code == 422
    assert "no active staff member with this id" in r.text


def test_team_routing_strategy_can_be_changed(
    client: TestClient, personas: Personas, db: Database
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    team_id = personas.teams["acme_billing"]
    r = client.post(
        f"/admin/teams/{team_id}/routing",
        data={"csrf_token": csrf, "strategy": "round_robin"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    with db.session(write=False) as s:
        state = routing_service.get_team_routing(s, personas.acme_admin.ctx, team_id)
        assert state.strategy == Strategy.round_robin
    page = client.get(f"/admin/teams/{team_id}").text
    assert '<option value="round_robin" selected>' in page


def test_another_workspaces_team_is_a_404_everywhere(
    client: TestClient, personas: Personas, db: Database
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    other = personas.teams["globex_support"]
    assert client.get(f"/admin/teams/{other}").status_code == 404
    posts = [
        (f"/admin/teams/{other}", {"name": "Mine now"}),
        (f"/admin/teams/{other}/delete", {}),
        (f"/admin/teams/{other}/members", {"user_id": str(personas.ann.user_id)}),
        (f"/admin/teams/{other}/members/{personas.gina.user_id}/remove", {}),
        (f"/admin/teams/{other}/routing", {"strategy": "least_load"}),
    ]
    for path, data in posts:
        r = client.post(path, data={**data, "csrf_token": csrf})
        assert r.status_code == 404, path
        assert "Page not found" in r.text
    team = _team(db, other)
    assert team is not None
    assert team.name == "Support"


def test_team_posts_need_csrf_and_an_admin(client: TestClient, personas: Personas) -> None:
    team_id = personas.teams["acme_support"]
    sign_in(client, personas.acme_admin)
    assert client.post("/admin/teams", data={"name": "No token"}).status_code == 403
    assert client.post(f"/admin/teams/{team_id}/delete").status_code == 403
    agent_csrf = sign_in(client, personas.bob)
    r = client.post("/admin/teams", data={"csrf_token": agent_csrf, "name": "Bob's"})
    assert r.status_code == 403
    assert "Bob" not in client.get("/api/v1/teams", headers=personas.bob.headers).text


def test_update_workspace_settings_is_for_admins_and_reports_every_problem(
    session: Session, personas: Personas
) -> None:
    with pytest.raises(PermissionDenied):
        workspaces_service.update_workspace_settings(
            session, personas.ann.ctx, name="X", help_center_title="", logo_url="", color=""
        )
    with pytest.raises(ValidationFailed) as caught:
        workspaces_service.update_workspace_settings(
            session,
            personas.acme_admin.ctx,
            name="",
            help_center_title="t" * 201,
            logo_url="https://user:pw@example.com/logo.png",
            color="#zzzzzz",
        )
    fields = [d["field"] for d in caught.value.details]
    assert fields == ["name", "title", "logo_url", "color"]
