"""Admin pages for people and API tokens (/admin/users, /admin/tokens)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from deskpilot.auth import service as auth_service
from deskpilot.auth.models import ApiToken
from deskpilot.core.context import Role
from deskpilot.db.engine import Database
from tests.factories import Persona, Personas
from tests.pages import HTMX, sign_in


def _member(db: Database, persona: Persona, user_id: int) -> tuple[str, bool]:
    with db.session(write=False) as s:
        member = auth_service.get_member(s, persona.ctx, user_id)
        return member.role.value, member.is_active


@pytest.mark.parametrize("path", ["/admin/users", "/admin/tokens"])
@pytest.mark.parametrize(("who", "status"), [("ann", 403), ("carol", 403), ("acme_admin", 200)])
def test_people_pages_are_for_admins(
    client: TestClient, personas: Personas, path: str, who: str, status: int
) -> None:
    sign_in(client, getattr(personas, who))
    r = client.get(path)
    assert r.status_code == status
    if status == 200:
        assert f'<a href="{path}" aria-current="page">' in r.text


@pytest.mark.parametrize("path", ["/admin/users", "/admin/tokens"])
def test_people_pages_send_anonymous_visitors_to_sign_in(
    client: TestClient, personas: Personas, path: str
) -> None:
    r = client.get(path, follow_redirects=False)
    assert r.headers["location"].startswith(f"/login?next={path}")


# --- users ---------------------------------------------------------------------------------------


def test_user_list_shows_this_workspaces_members_with_roles(
    client: TestClient, personas: Personas
) -> None:
    sign_in(client, personas.acme_admin)
    html = client.get("/admin/users").text
    for persona in (personas.acme_owner, personas.ann, personas.bob, personas.carol):
        assert persona.email in html
    assert personas.gina.email not in html
    assert "(you)" in html
    ann_row = html[html.index(f'id="member-{personas.ann.user_id}"') :]
    ann_row = ann_row[: ann_row.index("</tr>")]
    assert '<option value="agent" selected>' in ann_row
    assert "Deactivate" in ann_row


def test_role_filter_renders_only_the_list_for_htmx(client: TestClient, personas: Personas) -> None:
    sign_in(client, personas.acme_admin)
    r = client.get("/admin/users?role=customer", headers=HTMX)
    assert r.status_code == 200
    assert r.text.lstrip().startswith('<div id="member-list">')
    assert "<html" not in r.text
    assert personas.carol.email in r.text
    assert personas.ann.email not in r.text
    full = client.get("/admin/users?role=agent&q=bob").text
    assert "<html" in full
    assert personas.bob.email in full
    assert personas.ann.email not in full
    assert '<option value="agent" selected>Agent</option>' in full


def test_adding_an_agent_with_a_generated_password_shows_it_once(
    client: TestClient, personas: Personas
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    form = {"csrf_token": csrf, "email": "nia@acme.example.com", "name": "Nia", "role": "agent"}
    r = client.post("/admin/users", data=form)
    assert r.status_code == 201
    match = re.search(r'id="new-password"[^>]*value="([^"]+)"', r.text)
    assert match, r.text
    password = match.group(1)
    assert "shown only once" in r.text
    assert password not in client.get("/admin/users").text
    # The password works on the real sign-in form.
    client.cookies.clear()
    r = client.post(
        "/login",
        data={"workspace": "acme", "email": "nia@acme.example.com", "password": password},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/app"


def test_adding_an_admin_with_a_chosen_password_redirects(
    client: TestClient, personas: Personas, db: Database
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    form = {
        "csrf_token": csrf,
        "email": "Max@Acme.example.com",
        "name": "Max",
        "role": "admin",
        "password": "a long enough password",
    }
    r = client.post("/admin/users", data=form, follow_redirects=False)
    assert r.status_code == 303
    page = client.get("/admin/users").text
    assert "Max added." in page
    assert "max@acme.example.com" in page
    assert 'id="new-password"' not in page


def test_existing_identity_keeps_its_password(client: TestClient, personas: Personas) -> None:
    csrf = sign_in(client, personas.globex_owner)
    form = {"csrf_token": csrf, "email": personas.ann.email, "name": "Ann", "role": "agent"}
    r = client.post("/admin/users", data=form, follow_redirects=False)
    assert r.status_code == 303
    page = client.get("/admin/users").text
    assert "They sign in with the password they already have." in page
    assert 'id="new-password"' not in page


@pytest.mark.parametrize(
    ("changes", "status", "field", "message"),
    [
        ({"email": "not-an-email"}, 422, "email", "valid email"),
        ({"name": ""}, 422, "name", "at least 1 character"),
        ({"password": "short"}, 422, "password", "at least 8 characters"),
        ({"email": "ann@acme.example.com"}, 409, "email", "already a member"),
        ({"role": "owner"}, 403, "role", "Only owners can add owners"),
    ],
)
def test_bad_new_members_are_refused_next_to_the_field(
    client: TestClient,
    personas: Personas,
    changes: dict[str, str],
    status: int,
    field: str,
    message: str,
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    form = {"csrf_token": csrf, "email": "new@acme.example.com", "name": "New", "role": "agent"}
    r = client.post("/admin/users", data={**form, **changes})
    assert r.status_code == status
    error = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>', r.text)
    assert error, r.text[-3000:]
    assert message in error.group(1)


def test_only_owners_are_offered_the_owner_role(client: TestClient, personas: Personas) -> None:
    sign_in(client, personas.acme_admin)
    create_form = client.get("/admin/users").text.split('id="new-user-title"')[1]
    assert '<option value="owner"' not in create_form
    sign_in(client, personas.acme_owner)
    create_form = client.get("/admin/users").text.split('id="new-user-title"')[1]
    assert '<option value="owner"' in create_form


def test_change_role_and_deactivate_then_reactivate(
    client: TestClient, personas: Personas, db: Database
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    bob = personas.bob.user_id
    r = client.post(
        f"/admin/users/{bob}", data={"csrf_token": csrf, "role": "admin"}, follow_redirects=False
    )
    assert r.status_code == 303
    assert "Bob: Admin, active." in client.get("/admin/users").text
    assert _member(db, personas.acme_admin, bob) == ("admin", True)

    client.post(f"/admin/users/{bob}", data={"csrf_token": csrf, "is_active": "false"})
    assert _member(db, personas.acme_admin, bob) == ("admin", False)
    row = client.get("/admin/users").text.split(f'id="member-{bob}"')[1].split("</tr>")[0]
    assert "Deactivated" in row
    assert "Reactivate" in row

    client.post(f"/admin/users/{bob}", data={"csrf_token": csrf, "is_active": "true"})
    assert _member(db, personas.acme_admin, bob) == ("admin", True)


def test_last_owner_refusal_is_shown_on_the_row(
    client: TestClient, personas: Personas, db: Database
) -> None:
    csrf = sign_in(client, personas.acme_owner)
    owner = personas.acme_owner.user_id
    r = client.post(f"/admin/users/{owner}", data={"csrf_token": csrf, "role": "admin"})
    assert r.status_code == 409
    row = r.text.split(f'id="member-{owner}"')[1].split("</tr>")[0]
    assert 'class="field-error" role="alert">The last active owner cannot be demoted' in row
    r = client.post(f"/admin/users/{owner}", data={"csrf_token": csrf, "is_active": "false"})
    assert r.status_code == 409
    assert _member(db, personas.acme_owner, owner) == ("owner", True)


def test_admins_cannot_touch_owners(client: TestClient, personas: Personas, db: Database) -> None:
    csrf = sign_in(client, personas.acme_admin)
    owner = personas.acme_owner.user_id
    r = client.post(f"/admin/users/{owner}", data={"csrf_token": csrf, "is_active": "false"})
    assert r.status_code == 403
    assert "Only owners can grant or revoke owner access" in r.text
    assert _member(db, personas.acme_owner, owner) == ("owner", True)


def test_another_workspaces_member_is_a_404(
    client: TestClient, personas: Personas, db: Database
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    gina = personas.gina.user_id
    r = client.post(f"/admin/users/{gina}", data={"csrf_token": csrf, "is_active": "false"})
    assert r.status_code == 404
    assert _member(db, personas.gina, gina) == (Role.agent.value, True)


def test_user_posts_need_the_csrf_token(
    client: TestClient, personas: Personas, db: Database
) -> None:
    sign_in(client, personas.acme_admin)
    bob = personas.bob.user_id
    assert client.post(f"/admin/users/{bob}", data={"is_active": "false"}).status_code == 403
    form = {"email": "x@acme.example.com", "name": "X", "role": "agent"}
    assert client.post("/admin/users", data=form).status_code == 403
    assert _member(db, personas.acme_admin, bob) == ("agent", True)


# --- API tokens ----------------------------------------------------------------------------------


def test_token_page_lists_own_and_other_members_tokens(
    client: TestClient, personas: Personas
) -> None:
    sign_in(client, personas.acme_admin)
    html = client.get("/admin/tokens").text
    mine, others = html.split('id="others-title"')
    assert mine.count("<td>tests</td>") == 1
    assert "<td>Ann</td>" in others
    assert "<td>Acme_Admin</td>" not in others
    assert "<td>Acme_Owner</td>" in others
    assert "<td>Gina</td>" not in html


def test_new_token_is_shown_once_and_works(
    client: TestClient, personas: Personas, db: Database
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    r = client.post("/admin/tokens", data={"csrf_token": csrf, "name": "CRM sync"})
    assert r.status_code == 201
    match = re.search(r'id="new-token"[^>]*value="([^"]+)"', r.text)
    assert match
    secret = match.group(1)
    assert "It is shown only once" in r.text
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.json()["user_id"] == personas.acme_admin.user_id
    assert secret not in client.get("/admin/tokens").text
    with db.session(write=False) as s:
        stored = [t.token_hash for t in s.query(ApiToken).all()]
        assert secret not in stored


def test_admin_can_issue_a_token_for_an_agent(client: TestClient, personas: Personas) -> None:
    csrf = sign_in(client, personas.acme_admin)
    r = client.post(
        "/admin/tokens",
        data={"csrf_token": csrf, "name": "Ann's bot", "user_id": personas.ann.user_id},
    )
    assert r.status_code == 201
    secret = re.search(r'id="new-token"[^>]*value="([^"]+)"', r.text)
    assert secret
    assert "It acts as Ann." in r.text
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {secret.group(1)}"})
    assert me.json()["role"] == "agent"


def test_revoke_a_token(client: TestClient, personas: Personas, db: Database) -> None:
    csrf = sign_in(client, personas.acme_admin)
    with db.session(write=False) as s:
        ann_token = auth_service.list_tokens(s, personas.ann.ctx)[0].id
    r = client.post(
        f"/admin/tokens/{ann_token}/revoke", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert r.status_code == 303
    assert "Token tests revoked." in client.get("/admin/tokens").text
    assert client.get("/api/v1/auth/me", headers=personas.ann.headers).status_code == 401


def test_another_workspaces_token_is_a_404(
    client: TestClient, personas: Personas, db: Database
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    with db.session(write=False) as s:
        gina_token = auth_service.list_tokens(s, personas.gina.ctx)[0].id
    r = client.post(f"/admin/tokens/{gina_token}/revoke", data={"csrf_token": csrf})
    assert r.status_code == 404
    assert client.get("/api/v1/auth/me", headers=personas.gina.headers).status_code == 200


def test_token_posts_need_the_csrf_token(client: TestClient, personas: Personas) -> None:
    sign_in(client, personas.acme_admin)
    assert client.post("/admin/tokens", data={"name": "x"}).status_code == 403
    r = client.get("/admin/tokens", headers=HTMX)
    assert r.status_code == 200


def test_an_admin_cannot_mint_tokens_for_owners_customers_or_the_inactive(
    client: TestClient, personas: Personas
) -> None:
    from tests.pages import sign_in as page_sign_in

    csrf = page_sign_in(client, personas.acme_admin)
    for who in (personas.acme_owner, personas.carol):
        r = client.post(
            "/admin/tokens",
            data={"csrf_token": csrf, "name": "x", "user_id": str(who.user_id)},
        )
        assert r.status_code == 403, who.key
    r = client.post(
        "/api/v1/tokens",
        json={"name": "x", "user_id": personas.acme_owner.user_id},
        headers=personas.acme_admin.headers,
    )
    assert r.status_code == 403
    # For an agent it works, and the owner may issue one for another owner-ranked member.
    ok = client.post(
        "/api/v1/tokens",
        json={"name": "x", "user_id": personas.ann.user_id},
        headers=personas.acme_admin.headers,
    )
    assert ok.status_code == 201
    assert (
        client.post(
            "/api/v1/tokens",
            json={"name": "x", "user_id": personas.acme_admin.user_id},
            headers=personas.acme_owner.headers,
        ).status_code
        == 201
    )
