"""An agent's day in the browser: sign in, find a ticket, reply, change its status."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from deskpilot.demo.seed import DEMO_PASSWORD, DemoSummary
from tests.e2e.conftest import LiveServer, screenshot, sign_in

AGENT = "sam@acmecloud.example.com"


def test_agent_finds_a_ticket_replies_and_sets_its_status(
    page: Page, live_server: LiveServer, demo: DemoSummary
) -> None:
    sign_in(page, live_server.url, "demo", AGENT, DEMO_PASSWORD)
    expect(page).to_have_url(f"{live_server.url}/app")
    page.goto(f"{live_server.url}/app?view=all")
    expect(page.get_by_role("region", name="Tickets")).to_be_visible()
    screenshot(page, "console-queue")

    # "/" focuses the search box; typing filters the table in place (htmx).
    page.keyboard.press("/")
    expect(page.get_by_label("Search tickets")).to_be_focused()
    page.keyboard.type("TLS certificate")
    results = page.get_by_role("region", name="Tickets")
    link = results.get_by_role("link", name="TLS certificate not issued")
    expect(link).to_be_visible()
    expect(results.get_by_role("link", name="Webhook deliveries failing")).to_have_count(0)
    link.click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("TLS certificate not issued")
    screenshot(page, "console-ticket")
    page.get_by_label("Reply to the customer").fill(
        "Thanks for the report. We re-triggered the certificate order; it should be live within "
        "**ten minutes**."
    )
    page.get_by_role("button", name="Send reply").click()
    conversation = page.locator("#conversation, .conversation").first
    expect(conversation).to_contain_text("We re-triggered the certificate order")

    page.get_by_label("Status").select_option("waiting_customer")
    header = page.locator("#ticket-header")
    expect(header.locator(".badge-status-waiting_customer")).to_be_visible()
    page.reload()
    expect(page.locator("#ticket-header .badge-status-waiting_customer")).to_be_visible()

    # A refused reply is a 422 that htmx still swaps in: the error shows next to the composer.
    page.get_by_role("button", name="Send reply").click()
    expect(page.locator("#composer")).to_contain_text("Write a message first.")
