"""KB admin pages: access per role, the article list, preview, categories and import."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from deskpilot.kb import categories
from deskpilot.kb.admin_views import TRANSITION_LABELS, lifecycle_actions
from deskpilot.kb.content import TRANSITIONS, ArticleStatus
from deskpilot.kb.models import Article, KbCategory
from deskpilot.kb.schemas import CategoryCreate
from tests.factories import Personas
from tests.kb.conftest import make_article, move_to
from tests.pages import HTMX, sign_in


def _category(session: Session, personas: Personas, name: str, parent: int | None = None) -> int:
    category, _ = categories.create_category(
        session, personas.acme_admin.ctx, CategoryCreate(name=name, parent_id=parent)
    )
    session.commit()
    return category.id


# --- access ------------------------------------------------------------------------------------


PAGES = [
    "/admin/kb",
    "/admin/kb/articles/new",
    "/admin/kb/categories",
]


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_visitors_are_sent_to_sign_in(client: TestClient, url: str) -> None:
    r = client.get(url, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login?next=/admin/kb")


@pytest.mark.parametrize("url", [*PAGES, "/admin/kb/import"])
def test_customers_get_the_403_page(client: TestClient, personas: Personas, url: str) -> None:
    sign_in(client, personas.carol)
    r = client.get(url)
    assert r.status_code == 403
    assert "open this page" in r.text


def test_agents_open_the_kb_pages_but_not_import(client: TestClient, personas: Personas) -> None:
    sign_in(client, personas.ann)
    for url in PAGES:
        r = client.get(url)
        assert r.status_code == 200, url
        assert 'href="/static/admin.css' in r.text
        assert 'aria-label="Knowledge base"' in r.text
    r = client.get("/admin/kb")
    assert 'href="/admin/kb/import"' not in r.text  # agents do not see the import link
    assert client.get("/admin/kb/import").status_code == 403


def test_every_lifecycle_move_has_a_button_label() -> None:
    for current, targets in TRANSITIONS.items():
        for target in targets:
            assert (current, target) in TRANSITION_LABELS


def test_lifecycle_actions_mirror_the_service_rules(personas: Personas) -> None:
    agent, admin = personas.ann.role, personas.acme_admin.role
    actions, needs_admin = lifecycle_actions(agent, ArticleStatus.approved)
    assert [a.target for a in actions] == ["draft"]
    assert needs_admin
    actions, needs_admin = lifecycle_actions(admin, ArticleStatus.approved)
    assert sorted(a.label for a in actions) == ["Publish", "Reopen as draft"]
    assert not needs_admin
    assert lifecycle_actions(agent, ArticleStatus.archived) == ([], True)


# --- the article list --------------------------------------------------------------------------


def test_empty_knowledge_base_shows_the_empty_state(client: TestClient, personas: Personas) -> None:
    sign_in(client, personas.acme_admin)
    r = client.get("/admin/kb")
    assert r.status_code == 200
    assert "No articles yet" in r.text
    assert "Write the first article" in r.text


def test_list_filters_and_counts(client: TestClient, session: Session, personas: Personas) -> None:
    admin = personas.acme_admin.ctx
    billing = _category(session, personas, "Billing")
    published = make_article(session, admin, title="Refund a payment", category_id=billing)
    move_to(session, admin, published, ArticleStatus.published)
    make_article(session, admin, title="Reset your password")
    make_article(session, admin, title="Internal escalation notes", visibility="internal")
    make_article(session, personas.gina.ctx, title="Globex secret article")
    session.commit()
    sign_in(client, personas.ann)

    r = client.get("/admin/kb")
    assert r.status_code == 200
    for title in ("Refund a payment", "Reset your password", "Internal escalation notes"):
        assert title in r.text
    assert "Globex secret article" not in r.text
    assert '>All <span class="count">3</span>' in r.text
    assert '>Draft <span class="count">2</span>' in r.text
    assert '>Published <span class="count">1</span>' in r.text
    assert "3 articles · page 1 of 1" in r.text

    drafts = client.get("/admin/kb", params={"status": "draft"}).text
    assert "Reset your password" in drafts
    assert "Refund a payment" not in drafts

    by_title = client.get("/admin/kb", params={"q": "PASSWORD"}).text
    assert "Reset your password" in by_title
    assert "Refund a payment" not in by_title
    # Counts follow the other filters, so each tab says what it would list.
    assert '>All <span class="count">1</span>' in by_title

    in_billing = client.get("/admin/kb", params={"category_id": str(billing)}).text
    assert "Refund a payment" in in_billing
    assert "Reset your password" not in in_billing

    internal = client.get("/admin/kb", params={"visibility": "internal"}).text
    assert "Internal escalation notes" in internal
    assert "Reset your password" not in internal

    nothing = client.get("/admin/kb", params={"q": "no such thing"}).text
    assert "No articles match these filters" in nothing
    # An unknown status from an old bookmark lists everything instead of failing.
    assert "Refund a payment" in client.get("/admin/kb", params={"status": "bogus"}).text


def test_list_partial_for_htmx(client: TestClient, session: Session, personas: Personas) -> None:
    make_article(session, personas.acme_admin.ctx, title="Reset your password")
    session.commit()
    sign_in(client, personas.acme_admin)
    full = client.get("/admin/kb")
    part = client.get("/admin/kb", params={"q": "reset"}, headers=HTMX)
    assert "<html" in full.text
    assert 'id="kb-results"' in full.text
    assert part.status_code == 200
    assert "<html" not in part.text
    assert 'class="kb-tabs"' in part.text
    assert "Reset your password" in part.text


def test_list_pages(client: TestClient, session: Session, personas: Personas) -> None:
    admin = personas.acme_admin.ctx
    for n in range(27):
        make_article(session, admin, title=f"Article number {n:02d}")
    session.commit()
    sign_in(client, personas.acme_admin)
    first = client.get("/admin/kb").text
    assert "27 articles · page 1 of 2" in first
    assert "Article number 26" in first
    assert "Article number 01" not in first
    assert 'href="/admin/kb?page=2" rel="next"' in first
    second = client.get("/admin/kb", params={"page": 2}).text
    assert "Article number 01" in second
    assert "Article number 00" in second
    assert "Article number 26" not in second
    assert 'rel="prev"' in second
    # Past the end shows the last page rather than an empty one.
    assert "page 2 of 2" in client.get("/admin/kb", params={"page": 9}).text


# --- preview -----------------------------------------------------------------------------------


def test_preview_renders_sanitized_markdown(client: TestClient, personas: Personas) -> None:
    csrf = sign_in(client, personas.ann)
    body = "Click **Save**.\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1))"
    r = client.post(
        "/admin/kb/preview", data={"body": body}, headers={**HTMX, "X-CSRF-Token": csrf}
    )
    assert r.status_code == 200
    assert "<html" not in r.text
    assert "<strong>Save</strong>" in r.text
    assert "&lt;script&gt;" in r.text
    assert "<script" not in r.text
    assert 'href="javascript' not in r.text

    full = client.post("/admin/kb/preview", data={"body": "# Hi", "csrf_token": csrf})
    assert full.status_code == 200
    assert "<html" in full.text
    assert "<h1>Hi</h1>" in full.text


def test_preview_requires_csrf_and_staff(client: TestClient, personas: Personas) -> None:
    sign_in(client, personas.ann)
    assert client.post("/admin/kb/preview", data={"body": "x"}).status_code == 403
    csrf = sign_in(client, personas.carol)
    r = client.post("/admin/kb/preview", data={"body": "x", "csrf_token": csrf})
    assert r.status_code == 403


# --- categories --------------------------------------------------------------------------------


def test_admin_creates_categories_in_a_tree(
    client: TestClient, session: Session, personas: Personas
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    r = client.post(
        "/admin/kb/categories",
        data={"name": "Billing", "csrf_token": csrf, "visibility": "external"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    billing = session.scalars(select(KbCategory.id).where(KbCategory.name == "Billing")).one()
    session.rollback()  # end the read: SQLite lets one writer in at a time
    r = client.post(
        "/admin/kb/categories",
        data={"name": "Refunds", "parent_id": str(billing), "csrf_token": csrf},
    )
    assert r.status_code == 200
    assert "Category “Refunds” created." in r.text
    assert 'style="--depth: 0"' in r.text
    assert 'style="--depth: 1"' in r.text
    tree_html = r.text[r.text.index('class="kb-tree card"') :]
    assert tree_html.index("Billing") < tree_html.index("Refunds")

    tree = client.get("/admin/kb/categories", headers=HTMX)
    assert "<html" not in tree.text
    assert "Refunds" in tree.text
    assert 'class="kb-tree card"' in tree.text


def test_category_form_errors_are_shown_inline(
    client: TestClient, session: Session, personas: Personas
) -> None:
    _category(session, personas, "Billing")
    csrf = sign_in(client, personas.acme_admin)
    r = client.post("/admin/kb/categories", data={"name": " ", "csrf_token": csrf})
    assert r.status_code == 422
    assert 'id="name-error">Required.' in r.text
    r = client.post(
        "/admin/kb/categories", data={"name": "Other", "slug": "billing", "csrf_token": csrf}
    )
    assert r.status_code == 409
    assert "already used by category" in r.text
    assert 'value="Other"' in r.text  # what was typed is kept
    r = client.post("/admin/kb/categories", data={"name": "Billing"})
    assert r.status_code == 403  # no CSRF token


def test_rename_move_and_delete_a_category(
    client: TestClient, session: Session, personas: Personas
) -> None:
    top = _category(session, personas, "Accounts")
    child = _category(session, personas, "Passwords", parent=top)
    grandchild = _category(session, personas, "Two-factor", parent=child)
    article = make_article(session, personas.acme_admin.ctx, title="2FA", category_id=child)
    session.commit()
    csrf = sign_in(client, personas.acme_admin)

    edit = client.get(f"/admin/kb/categories/{top}")
    assert edit.status_code == 200
    # A category cannot move inside itself or its descendants: they are not offered.
    assert f'<option value="{child}"' not in edit.text
    assert f'<option value="{grandchild}"' not in edit.text

    r = client.post(
        f"/admin/kb/categories/{top}",
        data={"name": "Accounts", "parent_id": str(grandchild), "csrf_token": csrf},
    )
    assert r.status_code == 422
    assert "A category cannot be nested inside itself" in r.text

    r = client.post(
        f"/admin/kb/categories/{grandchild}",
        data={"name": "2-step login", "parent_id": "", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303
    session.expire_all()
    moved = session.get(KbCategory, grandchild)
    assert moved is not None
    assert (moved.name, moved.parent_id) == ("2-step login", None)
    session.rollback()

    r = client.post(f"/admin/kb/categories/{child}/delete", data={"csrf_token": csrf})
    assert r.status_code == 200
    assert "Category “Passwords” deleted." in r.text
    session.expire_all()
    assert session.get(KbCategory, child) is None
    assert session.get(Article, article.id).category_id is None  # type: ignore[union-attr]


def test_agents_cannot_change_categories(
    client: TestClient, session: Session, personas: Personas
) -> None:
    billing = _category(session, personas, "Billing")
    csrf = sign_in(client, personas.ann)
    tree = client.get("/admin/kb/categories")
    assert "Billing" in tree.text
    assert "Create category" not in tree.text
    assert f'href="/admin/kb/categories/{billing}"' not in tree.text
    assert client.get(f"/admin/kb/categories/{billing}").status_code == 403
    r = client.post("/admin/kb/categories", data={"name": "New", "csrf_token": csrf})
    assert r.status_code == 403
    r = client.post(f"/admin/kb/categories/{billing}/delete", data={"csrf_token": csrf})
    assert r.status_code == 403
    assert session.get(KbCategory, billing) is not None


def test_another_workspaces_category_is_a_404(
    client: TestClient, session: Session, personas: Personas
) -> None:
    billing = _category(session, personas, "Billing")
    csrf = sign_in(client, personas.globex_owner)
    assert client.get(f"/admin/kb/categories/{billing}").status_code == 404
    r = client.post(f"/admin/kb/categories/{billing}", data={"name": "Mine", "csrf_token": csrf})
    assert r.status_code == 404
    r = client.post(f"/admin/kb/categories/{billing}/delete", data={"csrf_token": csrf})
    assert r.status_code == 404
    assert "Billing" not in client.get("/admin/kb/categories").text
    session.expire_all()
    assert session.get(KbCategory, billing).name == "Billing"  # type: ignore[union-attr]


# --- import ------------------------------------------------------------------------------------


def test_admin_imports_a_jsonl_file(
    client: TestClient, session: Session, personas: Personas
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    lines = [
        {"external_id": "a1", "title": "Change your plan", "body": "Open **Billing**."},
        {"external_id": "a2", "title": "Close your account", "body": "Write to us."},
        {"title": "no id"},
    ]
    content = "\n".join(json.dumps(line) for line in lines).encode()
    r = client.post(
        "/admin/kb/import",
        data={"csrf_token": csrf},
        files={"file": ("articles.jsonl", content, "application/jsonl")},
    )
    assert r.status_code == 200, r.text
    assert "<dt>New</dt><dd>2</dd>" in r.text
    assert "<dt>Failed</dt><dd>1</dd>" in r.text
    assert "line 3" in r.text
    titles = set(session.scalars(select(Article.title).where(Article.external_id.is_not(None))))
    assert titles == {"Change your plan", "Close your account"}
    session.rollback()

    again = client.post(
        "/admin/kb/import",
        data={"csrf_token": csrf},
        files={"file": ("articles.jsonl", content, "application/jsonl")},
    )
    assert "<dt>Unchanged</dt><dd>2</dd>" in again.text


def test_import_rejects_other_files_and_non_admins(client: TestClient, personas: Personas) -> None:
    csrf = sign_in(client, personas.acme_admin)
    r = client.post(
        "/admin/kb/import",
        data={"csrf_token": csrf},
        files={"file": ("notes.pdf", b"%PDF", "application/pdf")},
    )
    assert r.status_code == 422
    assert "Only .jsonl, .md and .markdown files" in r.text
    files = {"file": ("a.md", b"# Hi", "text/markdown")}
    assert client.post("/admin/kb/import", files=files).status_code == 403  # no CSRF
    csrf = sign_in(client, personas.ann)
    r = client.post("/admin/kb/import", data={"csrf_token": csrf}, files=files)
    assert r.status_code == 403
