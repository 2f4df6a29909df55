"""The public help center: home, categories, articles (views, votes), instant search."""

from __future__ import annotations

from fastapi.testclient import TestClient

from deskpilot.db.engine import Database
from tests.factories import Personas
from tests.pages import HTMX, sign_in
from tests.portal.conftest import HelpCenter, article, search_logs


def test_home_lists_customer_visible_topics_and_articles_only(
    client: TestClient, personas: Personas, help_center: HelpCenter
) -> None:
    r = client.get("/help/acme")
    assert r.status_code == 200
    assert "How can we help?" in r.text
    assert (
        '<a class="category-link" href="/help/acme/categories/your-account">Your account</a>'
        in r.text
    )
    assert f'href="/help/acme/articles/{help_center.password}"' in r.text
    assert "Download your invoices" in r.text
    for hidden in ("Staff only", "Internal escalation runbook", "Unreleased feature", "Globex"):
        assert hidden not in r.text
    assert "<title>Help center · Acme</title>" in r.text
    assert 'href="/login?workspace=acme' in r.text, "anonymous visitors are offered sign-in"


def test_unknown_workspace_is_the_styled_404(client: TestClient, personas: Personas) -> None:
    for url in ("/help/nope", "/help/nope/articles/x", "/help/nope/contact", "/help/nope/tickets"):
        r = client.get(url, follow_redirects=False)
        assert r.status_code == 404, url
        assert "Page not found" in r.text
        assert "Back to the help center" in r.text


def test_article_page_renders_markdown_related_and_the_vote_form(
    client: TestClient, db: Database, personas: Personas, help_center: HelpCenter
) -> None:
    r = client.get(f"/help/acme/articles/{help_center.password}")
    assert r.status_code == 200
    assert "<strong>Forgot password</strong>" in r.text
    assert "Choose a new password in two steps." in r.text
    assert "Was this helpful?" in r.text
    assert 'href="/help/acme/categories/your-account">Your account</a>' in r.text, "breadcrumb"
    assert "deskpilot_visitor" in r.headers["set-cookie"]
    assert article(db, help_center.password).view_count == 1
    client.get(f"/help/acme/articles/{help_center.password}")
    assert article(db, help_center.password).view_count == 2


def test_staff_reading_the_help_center_is_not_counted(
    client: TestClient, db: Database, personas: Personas, help_center: HelpCenter
) -> None:
    sign_in(client, personas.ann)
    r = client.get(f"/help/acme/articles/{help_center.password}")
    assert r.status_code == 200
    assert article(db, help_center.password).view_count == 0


def test_hidden_and_foreign_articles_and_categories_are_404(
    client: TestClient, personas: Personas, help_center: HelpCenter
) -> None:
    for slug in (help_center.internal, help_center.draft, help_center.globex, "no-such-article"):
        assert client.get(f"/help/acme/articles/{slug}").status_code == 404, slug
    # Even staff see only what customers see in the help center.
    sign_in(client, personas.ann)
    assert client.get(f"/help/acme/articles/{help_center.internal}").status_code == 404
    assert (
        client.get(f"/help/acme/categories/{help_center.internal_category_slug}").status_code == 404
    )
    # Globex's own article is readable in globex's help center only.
    assert client.get(f"/help/globex/articles/{help_center.globex}").status_code == 200


def test_category_page_lists_its_articles(
    client: TestClient, personas: Personas, help_center: HelpCenter
) -> None:
    r = client.get(f"/help/acme/categories/{help_center.category_slug}")
    assert r.status_code == 200
    assert "<h1>Your account</h1>" in r.text
    assert "Sign-in and passwords" in r.text
    assert f'href="/help/acme/articles/{help_center.password}"' in r.text
    assert "Download your invoices" not in r.text


def test_anonymous_votes_once_per_visitor_and_can_change_it(
    client: TestClient, db: Database, personas: Personas, help_center: HelpCenter
) -> None:
    url = f"/help/acme/articles/{help_center.password}/vote"
    client.get(f"/help/acme/articles/{help_center.password}")  # sets the visitor cookie
    r = client.post(url, data={"helpful": "yes"}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == f"/help/acme/articles/{help_center.password}"
    client.post(url, data={"helpful": "yes"}, follow_redirects=False)
    row = article(db, help_center.password)
    assert (row.helpful_count, row.not_helpful_count) == (1, 0)
    r = client.post(url, data={"helpful": "no"}, headers=HTMX)
    assert r.status_code == 200
    assert "Thanks for your feedback!" in r.text
    assert "<html" not in r.text, "htmx gets the vote fragment only"
    row = article(db, help_center.password)
    assert (row.helpful_count, row.not_helpful_count) == (0, 1)
    assert client.post(url, data={"helpful": "maybe"}).status_code == 422


def test_signed_in_customers_vote_as_themselves_with_csrf(
    client: TestClient, db: Database, personas: Personas, help_center: HelpCenter
) -> None:
    csrf = sign_in(client, personas.carol)
    url = f"/help/acme/articles/{help_center.password}/vote"
    assert client.post(url, data={"helpful": "yes"}).status_code == 403
    r = client.post(url, data={"helpful": "yes", "csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert article(db, help_center.password).helpful_count == 1
    assert (
        client.post(
            f"/help/acme/articles/{help_center.internal}/vote",
            data={"helpful": "yes", "csrf_token": csrf},
        ).status_code
        == 404
    )


def test_search_page_and_instant_results_are_logged_with_click_tracking(
    client: TestClient, db: Database, personas: Personas, help_center: HelpCenter
) -> None:
    r = client.get("/help/acme/search", params={"q": "reset password"})
    assert r.status_code == 200
    assert "<html" in r.text
    assert 'id="help-q"' in r.text
    assert "Reset your password" in r.text
    assert "Internal escalation runbook" not in r.text
    [logged] = search_logs(db)
    assert (logged.query, logged.source) == ("reset password", "portal")
    assert f"/help/acme/articles/{help_center.password}?from_search={logged.id}" in r.text

    partial = client.get("/help/acme/search", params={"q": "invoices"}, headers=HTMX)
    assert partial.status_code == 200
    assert "<html" not in partial.text
    assert "Download your invoices" in partial.text
    assert len(search_logs(db)) == 2

    client.get(f"/help/acme/articles/{help_center.password}?from_search={logged.id}")
    assert search_logs(db)[0].clicked_article_id == article(db, help_center.password).id


def test_empty_search_shows_the_form_and_logs_nothing(
    client: TestClient, db: Database, personas: Personas, help_center: HelpCenter
) -> None:
    r = client.get("/help/acme/search")
    assert r.status_code == 200
    assert 'hx-trigger="input changed delay:300ms, search"' in r.text
    assert search_logs(db) == []
    assert client.get("/help/acme/search", params={"q": "x" * 1001}).status_code == 422


def test_a_foreign_search_id_is_not_recorded_as_a_click(
    client: TestClient, db: Database, personas: Personas, help_center: HelpCenter
) -> None:
    client.get("/help/globex/search", params={"q": "plans"})
    [globex_search] = search_logs(db)
    r = client.get(f"/help/acme/articles/{help_center.password}?from_search={globex_search.id}")
    assert r.status_code == 200
    assert search_logs(db)[0].clicked_article_id is None


def test_another_workspaces_session_is_anonymous_here(
    client: TestClient, personas: Personas, help_center: HelpCenter
) -> None:
    sign_in(client, personas.gina)
    r = client.get("/help/acme")
    assert r.status_code == 200
    assert "My tickets" not in r.text
    assert 'href="/login?workspace=acme' in r.text
