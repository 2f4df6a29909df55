"""The KB article editor pages: create, edit, lifecycle, related, delete, stats and history."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from deskpilot.kb import feedback
from deskpilot.kb.content import ArticleStatus
from deskpilot.kb.models import Article, ArticleRevision
from tests.factories import Personas
from tests.kb.conftest import make_article, move_to
from tests.pages import HTMX, sign_in


def _article(session: Session, article_id: int) -> Article:
    session.expire_all()
    article = session.get(Article, article_id)
    assert article is not None
    # Detach the loaded row and end the read: SQLite lets one writer in at a time, and the
    # next request must not wait on this test's session.
    session.expunge(article)
    session.rollback()
    return article


def _revisions(session: Session, article_id: int) -> int:
    session.expire_all()
    count = session.scalar(select(func.count()).where(ArticleRevision.article_id == article_id))
    session.rollback()  # release SQLite's single writer slot before the next request
    return int(count or 0)


def _form(csrf: str, **fields: str) -> dict[str, str]:
    base = {
        "csrf_token": csrf,
        "title": "Reset your password",
        "slug": "",
        "summary": "",
        "body": "Open **Settings**.",
        "tags": "",
        "category_id": "",
        "visibility": "external",
    }
    return base | fields


# --- create ------------------------------------------------------------------------------------


def test_agent_creates_a_draft(client: TestClient, session: Session, personas: Personas) -> None:
    csrf = sign_in(client, personas.ann)
    page = client.get("/admin/kb/articles/new")
    assert page.status_code == 200
    assert "Create draft" in page.text
    assert 'name="form_key"' in page.text
    key = re.search(r'name="form_key" value="([^"]+)"', page.text)
    assert key is not None
    form = _form(csrf, title="Export to CSV", tags="Export, csv ", form_key=key.group(1))
    r = client.post("/admin/kb/articles", data=form, follow_redirects=False)
    assert r.status_code == 303
    article_id = int(r.headers["location"].rsplit("/", 1)[1])
    article = _article(session, article_id)
    assert (article.title, article.slug, article.status) == (
        "Export to CSV",
        "export-to-csv",
        "draft",
    )
    assert article.tags == ["csv", "export"]
    assert article.author_user_id == personas.ann.user_id
    session.rollback()

    # A double submit of the same form opens the same draft instead of creating another.
    again = client.post("/admin/kb/articles", data=form, follow_redirects=False)
    assert again.headers["location"] == r.headers["location"]
    shown = client.get(r.headers["location"])
    assert "Export to CSV" in shown.text
    assert "Submit for review" in shown.text


def test_create_form_errors_keep_the_text(
    client: TestClient, session: Session, personas: Personas
) -> None:
    make_article(session, personas.ann.ctx, title="Taken", slug="taken")
    session.commit()
    csrf = sign_in(client, personas.ann)
    r = client.post("/admin/kb/articles", data=_form(csrf, title="  ", body="My long text"))
    assert r.status_code == 422
    assert 'id="title-error">Required.' in r.text
    assert "My long text" in r.text
    r = client.post("/admin/kb/articles", data=_form(csrf, slug="Not A Slug"))
    assert r.status_code == 422
    assert "Use lowercase letters" in r.text
    r = client.post("/admin/kb/articles", data=_form(csrf, slug="taken"))
    assert r.status_code == 409
    assert "already used by article" in r.text
    r = client.post("/admin/kb/articles", data=_form(csrf, category_id="999999"))
    assert r.status_code == 422
    assert "Unknown category" in r.text
    assert client.post("/admin/kb/articles", data=_form("")).status_code == 403  # CSRF
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Article)) == 1


def test_preview_button_without_javascript(client: TestClient, personas: Personas) -> None:
    csrf = sign_in(client, personas.ann)
    r = client.post(
        "/admin/kb/articles", data=_form(csrf, body="## Steps\n\n1. Open *it*", action="preview")
    )
    assert r.status_code == 200
    assert "<h2>Steps</h2>" in r.text
    assert "<em>it</em>" in r.text
    assert "Create draft" in r.text  # still the editor, nothing saved


# --- edit --------------------------------------------------------------------------------------


def test_saving_stores_a_revision(client: TestClient, session: Session, personas: Personas) -> None:
    article = make_article(session, personas.ann.ctx, body="Old text")
    session.commit()
    article_id, version = article.id, article.content_version
    csrf = sign_in(client, personas.bob)
    page = client.get(f"/admin/kb/articles/{article_id}")
    assert page.status_code == 200
    assert "Old text" in page.text
    assert f'name="content_version" value="{version}"' in page.text

    form = _form(csrf, body="New text\r\nsecond line", content_version=str(version))
    r = client.post(f"/admin/kb/articles/{article_id}", data=form, follow_redirects=False)
    assert r.status_code == 303
    assert _article(session, article_id).body == "New text\nsecond line"
    assert _revisions(session, article_id) == 2

    # Posting the same text again (browsers send CRLF) is not an edit: no empty revision.
    fresh = str(_article(session, article_id).content_version)
    session.rollback()
    form["content_version"] = fresh
    r = client.post(f"/admin/kb/articles/{article_id}", data=form)
    assert r.status_code == 200
    assert "Saved." in r.text
    assert _revisions(session, article_id) == 2


def test_a_stale_form_is_a_409_that_keeps_the_text(
    client: TestClient, session: Session, personas: Personas
) -> None:
    article = make_article(session, personas.ann.ctx, body="Original")
    session.commit()
    article_id, stale = article.id, article.content_version
    csrf = sign_in(client, personas.ann)
    form = _form(csrf, body="First edit", content_version=str(stale))
    assert client.post(f"/admin/kb/articles/{article_id}", data=form).status_code == 200
    form["body"] = "Second, from an old tab"
    r = client.post(f"/admin/kb/articles/{article_id}", data=form)
    assert r.status_code == 409
    assert "changed this article after you opened it" in r.text
    assert "Second, from an old tab" in r.text
    assert _article(session, article_id).body == "First edit"


def test_agents_cannot_edit_published_articles(
    client: TestClient, session: Session, personas: Personas
) -> None:
    article = make_article(session, personas.ann.ctx, body="Live text")
    move_to(session, personas.acme_admin.ctx, article, ArticleStatus.published)
    session.commit()
    article_id = article.id
    csrf = sign_in(client, personas.ann)
    page = client.get(f"/admin/kb/articles/{article_id}")
    assert "Only admins and owners can edit" in page.text
    assert 'name="body"' not in page.text
    assert "Live text" in page.text
    assert "Unpublish" not in page.text
    assert "Delete article" not in page.text
    r = client.post(f"/admin/kb/articles/{article_id}", data=_form(csrf, body="Sneaky"))
    assert r.status_code == 403
    assert _article(session, article_id).body == "Live text"

    csrf = sign_in(client, personas.acme_admin)
    admin_page = client.get(f"/admin/kb/articles/{article_id}")
    assert 'name="body"' in admin_page.text
    assert "Unpublish" in admin_page.text
    r = client.post(f"/admin/kb/articles/{article_id}", data=_form(csrf, body="Fixed"))
    assert r.status_code == 200
    assert "Saved." in r.text


def test_editor_partial_is_the_status_panel(
    client: TestClient, session: Session, personas: Personas
) -> None:
    article = make_article(session, personas.ann.ctx)
    session.commit()
    sign_in(client, personas.ann)
    r = client.get(f"/admin/kb/articles/{article.id}", headers=HTMX)
    assert r.status_code == 200
    assert "<html" not in r.text
    assert 'id="kb-lifecycle"' in r.text


# --- lifecycle ---------------------------------------------------------------------------------


def _move(
    client: TestClient,
    csrf: str,
    article_id: int,
    to: str,
    *,
    headers: dict[str, str] | None = None,
    follow_redirects: bool = True,
) -> Any:
    return client.post(
        f"/admin/kb/articles/{article_id}/status",
        data={"csrf_token": csrf, "to": to},
        headers=headers,
        follow_redirects=follow_redirects,
    )


def test_review_lifecycle_through_the_buttons(
    client: TestClient, session: Session, personas: Personas
) -> None:
    article = make_article(session, personas.ann.ctx, title="Rotate API keys")
    session.commit()
    article_id = article.id
    csrf = sign_in(client, personas.ann)
    r = _move(client, csrf, article_id, "in_review")
    assert r.status_code == 200
    assert "Submitted for review." in r.text
    assert "An admin or owner approves" in r.text

    # An agent may not approve: the refusal is shown inline on the status panel.
    r = _move(client, csrf, article_id, "approved")
    assert r.status_code == 403
    assert 'class="kb-inline-error"' in r.text
    assert "Only admins can move" in r.text
    assert _article(session, article_id).status == "in_review"
    session.rollback()

    csrf = sign_in(client, personas.acme_admin)
    assert "Approve" in client.get(f"/admin/kb/articles/{article_id}").text
    assert _move(client, csrf, article_id, "approved").status_code == 200
    r = _move(client, csrf, article_id, "published")
    assert "Published." in r.text
    assert "Live in the help center." in r.text
    r = _move(client, csrf, article_id, "archived")
    assert "Archived." in r.text
    assert "Restore as draft" in r.text
    assert _article(session, article_id).status == "archived"


def test_an_illegal_move_is_an_inline_409(
    client: TestClient, session: Session, personas: Personas
) -> None:
    article = make_article(session, personas.ann.ctx)
    session.commit()
    csrf = sign_in(client, personas.acme_admin)
    r = _move(client, csrf, article.id, "published")
    assert r.status_code == 409
    assert "<html" in r.text
    assert "Cannot move an article from draft to published" in r.text
    part = _move(client, csrf, article.id, "archived", headers=HTMX)
    assert part.status_code == 409
    assert "<html" not in part.text
    assert "Cannot move an article from draft to archived" in part.text
    bad = _move(client, csrf, article.id, "gone")
    assert bad.status_code == 422
    assert "Unknown status" in bad.text
    assert _move(client, "", article.id, "in_review").status_code == 403  # CSRF
    assert _article(session, article.id).status == "draft"


def test_published_article_is_found_by_help_center_search(
    client: TestClient, session: Session, personas: Personas
) -> None:
    article = make_article(
        session, personas.ann.ctx, title="Configure single sign-on", body="Use SAML with Okta."
    )
    session.commit()
    article_id = article.id
    before = client.get("/api/v1/help/acme/search", params={"q": "single sign-on saml"})
    assert all(hit["article_id"] != article_id for hit in before.json())
    csrf = sign_in(client, personas.acme_admin)
    for step in ("in_review", "approved", "published"):
        r = _move(client, csrf, article_id, step, follow_redirects=False)
        assert r.status_code == 303
    hits = client.get("/api/v1/help/acme/search", params={"q": "single sign-on saml"}).json()
    assert hits
    assert hits[0]["article_id"] == article_id
    other = client.get("/api/v1/help/globex/search", params={"q": "single sign-on saml"}).json()
    assert other == []


# --- related, delete, stats --------------------------------------------------------------------


def test_related_articles_by_slug_or_id(
    client: TestClient, session: Session, personas: Personas
) -> None:
    ctx = personas.ann.ctx
    main = make_article(session, ctx, title="Main")
    first = make_article(session, ctx, title="First", slug="first")
    second = make_article(session, ctx, title="Second")
    foreign = make_article(session, personas.gina.ctx, title="Foreign", slug="foreign")
    session.commit()
    ids = (main.id, first.id, second.id, foreign.id)
    csrf = sign_in(client, personas.ann)
    url = f"/admin/kb/articles/{ids[0]}/related"
    r = client.post(url, data={"csrf_token": csrf, "related": f"{ids[2]}, first"})
    assert r.status_code == 200
    assert "Related articles saved." in r.text
    assert r.text.index(">Second</a>") < r.text.index(">First</a>")
    assert 'value="second, first"' in r.text

    r = client.post(url, data={"csrf_token": csrf, "related": f"foreign, {ids[3]}"})
    assert r.status_code == 422
    assert f"No article with id or slug: foreign, {ids[3]}" in r.text
    r = client.post(url, data={"csrf_token": csrf, "related": str(ids[0])})
    assert r.status_code == 422
    assert "cannot be related to itself" in r.text
    r = client.post(url, data={"csrf_token": csrf, "related": ""})
    assert "None yet." in r.text


def test_delete_follows_the_service_rules(
    client: TestClient, session: Session, personas: Personas
) -> None:
    draft = make_article(session, personas.ann.ctx, title="Scratch")
    live = make_article(session, personas.ann.ctx, title="Live one")
    move_to(session, personas.acme_admin.ctx, live, ArticleStatus.published)
    session.commit()
    draft_id, live_id = draft.id, live.id
    csrf = sign_in(client, personas.ann)
    r = client.post(f"/admin/kb/articles/{draft_id}/delete", data={"csrf_token": csrf})
    assert r.status_code == 200
    assert "Deleted “Scratch”." in r.text
    r = client.post(f"/admin/kb/articles/{live_id}/delete", data={"csrf_token": csrf})
    assert r.status_code == 403
    csrf = sign_in(client, personas.acme_owner)
    r = client.post(f"/admin/kb/articles/{live_id}/delete", data={"csrf_token": csrf})
    assert r.status_code == 200
    assert "Deleted “Live one”." in r.text
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Article)) == 0


def test_stats_show_views_and_votes(
    client: TestClient, session: Session, personas: Personas
) -> None:
    article = make_article(session, personas.ann.ctx)
    move_to(session, personas.acme_admin.ctx, article, ArticleStatus.published)
    feedback.record_view(session, personas.carol.ctx, article.id)
    feedback.vote(session, personas.carol.ctx, article.id, True)
    session.commit()
    sign_in(client, personas.ann)
    r = client.get(f"/admin/kb/articles/{article.id}")
    assert "<dt>Views</dt><dd>1</dd>" in r.text
    assert "<dt>Helpful</dt><dd>1</dd>" in r.text
    assert "<dt>Helpfulness</dt><dd>100%</dd>" in r.text
    assert "Last 30 days: 1 views" in r.text


# --- history -----------------------------------------------------------------------------------


def test_revisions_list_and_diff(client: TestClient, session: Session, personas: Personas) -> None:
    article = make_article(session, personas.ann.ctx, body="line one\nline two")
    session.commit()
    article_id, version = article.id, article.content_version
    csrf = sign_in(client, personas.bob)
    form = _form(csrf, body="line one\nline 2", content_version=str(version))
    client.post(f"/admin/kb/articles/{article_id}", data=form)

    listing = client.get(f"/admin/kb/articles/{article_id}/revisions")
    assert listing.status_code == 200
    assert "Revision 2" in listing.text
    assert "(latest)" in listing.text
    assert "Ann" in listing.text
    assert "Bob" in listing.text
    assert "Status changed" not in listing.text
    assert "Edited" in listing.text
    part = client.get(f"/admin/kb/articles/{article_id}/revisions", headers=HTMX)
    assert "<html" not in part.text
    assert "Revision 1" in part.text

    second = client.get(f"/admin/kb/articles/{article_id}/revisions/2")
    assert second.status_code == 200
    assert "Changes since revision 1" in second.text
    assert (
        '<span class="kb-diff-del"><span class="sr-only">Removed: </span>- line two' in second.text
    )
    assert '<span class="kb-diff-add"><span class="sr-only">Added: </span>+ line 2' in second.text
    first = client.get(
        f"/admin/kb/articles/{article_id}/revisions/1", params={"compare": "current"}
    )
    assert "Changes from this revision to the current article" in first.text
    assert "+ line 2" in first.text
    diff_only = client.get(f"/admin/kb/articles/{article_id}/revisions/2", headers=HTMX)
    assert "<html" not in diff_only.text
    assert "kb-diff-add" in diff_only.text
    assert client.get(f"/admin/kb/articles/{article_id}/revisions/9").status_code == 404


# --- tenancy -----------------------------------------------------------------------------------


def test_another_workspaces_article_is_a_404_everywhere(
    app: FastAPI, client: TestClient, session: Session, personas: Personas
) -> None:
    article = make_article(session, personas.ann.ctx, title="Acme only")
    session.commit()
    article_id = article.id
    csrf = sign_in(client, personas.globex_owner)
    for url in (
        f"/admin/kb/articles/{article_id}",
        f"/admin/kb/articles/{article_id}/revisions",
        f"/admin/kb/articles/{article_id}/revisions/1",
    ):
        r = client.get(url)
        assert r.status_code == 404, url
        assert "Acme only" not in r.text
    posts = {
        f"/admin/kb/articles/{article_id}": _form(csrf, body="Hijacked"),
        f"/admin/kb/articles/{article_id}/status": {"csrf_token": csrf, "to": "in_review"},
        f"/admin/kb/articles/{article_id}/related": {"csrf_token": csrf, "related": ""},
        f"/admin/kb/articles/{article_id}/delete": {"csrf_token": csrf},
    }
    for url, data in posts.items():
        assert client.post(url, data=data).status_code == 404, url
    assert "Acme only" not in client.get("/admin/kb").text
    kept = _article(session, article_id)
    assert (kept.body, kept.status) == ("Open **Settings**.", "draft")
