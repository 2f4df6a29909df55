"""An admin writes and publishes an article in the browser; the help-center search finds it."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from deskpilot.demo.seed import DEMO_PASSWORD, DemoSummary
from tests.e2e.conftest import LiveServer, screenshot, sign_in

ADMIN = "priya@acmecloud.example.com"


def test_admin_publishes_an_article_that_the_portal_search_finds(
    page: Page, live_server: LiveServer, demo: DemoSummary
) -> None:
    sign_in(page, live_server.url, "demo", ADMIN, DEMO_PASSWORD)
    page.goto(f"{live_server.url}/admin")
    screenshot(page, "admin-overview")
    page.goto(f"{live_server.url}/admin/ai")
    screenshot(page, "admin-ai")

    page.goto(f"{live_server.url}/admin/kb/articles/new")
    page.get_by_label("Title").fill("Rotate your deploy keys")
    page.get_by_label("Body (Markdown)").fill(
        "## When to rotate\n\nRotate deploy keys every 90 days from **Settings > Deploy keys**."
    )
    page.get_by_role("button", name="Create draft").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Rotate your deploy keys")
    screenshot(page, "admin-kb-editor")
    for action in ("Submit for review", "Approve", "Publish"):
        page.get_by_role("button", name=action).click()
    expect(page.locator("body")).to_contain_text("Published")

    page.goto(f"{live_server.url}/help/demo/search?q=deploy+keys")
    expect(page.get_by_role("link", name="Rotate your deploy keys")).to_be_visible()
