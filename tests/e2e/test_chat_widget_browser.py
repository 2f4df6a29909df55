"""The chat widget on the demo page: the AI answers, the visitor asks for a person, and the
agent's reply arrives in the widget without a reload."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from deskpilot.core.context import Context, Role
from deskpilot.db.engine import Database
from deskpilot.demo.seed import DemoSummary, directory
from deskpilot.tickets import service as tickets_service
from deskpilot.tickets.models import Ticket
from deskpilot.tickets.schemas import MessageCreate
from deskpilot.workspaces.models import Workspace
from tests.e2e.conftest import LiveServer, screenshot

pytestmark = pytest.mark.real_embedder


def _agent_replies(db: Database, body: str) -> None:
    agent = next(p for p in directory()["staff"] if p["role"] == "agent")
    with db.session(write=True) as session:
        workspace = session.scalars(select(Workspace).where(Workspace.slug == "demo")).one()
        ticket = session.scalars(
            select(Ticket)
            .where(Ticket.workspace_id == workspace.id, Ticket.channel == "chat")
            .order_by(Ticket.id.desc())
        ).first()
        assert ticket is not None
        from deskpilot.auth import service as auth_service

        user = auth_service.get_user_by_email(session, agent["email"])
        assert user is not None
        ctx = Context(workspace_id=workspace.id, user_id=user.id, role=Role.agent)
        tickets_service.add_message(session, ctx, ticket.id, MessageCreate(body=body))
        session.commit()


def test_widget_conversation_with_hand_off(
    page: Page, live_server: LiveServer, demo: DemoSummary, ai_pipeline: None, db: Database
) -> None:
    page.goto(f"{live_server.url}/widget-demo?workspace=demo")
    page.get_by_role("button", name="Open chat").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Your question").fill(
        "How do I reset my password? The reset email never arrives."
    )
    dialog.get_by_role("button", name="Start chat").click()
    log = dialog.get_by_role("log")
    # The AI answers from the demo help center, citing the article with a link.
    expect(log.get_by_role("link", name="Reset your password").first).to_be_visible(timeout=30_000)
    expect(log).to_contain_text("password")
    expect(dialog.get_by_label("Your question")).to_be_hidden()  # the start form gives way
    expect(dialog.get_by_label("Message")).to_be_visible()
    screenshot(page, "chat-widget")

    dialog.get_by_role("button", name="Talk to a person").click()
    expect(log).to_contain_text("A member of our team will reply here", timeout=15_000)

    _agent_replies(db, "Hi, this is Sam from support. I have re-sent the reset link.")
    expect(log).to_contain_text("I have re-sent the reset link", timeout=15_000)
