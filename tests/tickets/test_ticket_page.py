"""The agent console's ticket page: rendering, permissions, tenancy, in-place edits, merge."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from deskpilot.core.context import Context, Role
from deskpilot.customers.models import Organization
from deskpilot.db.engine import Database
from deskpilot.escalations import service as escalations_service
from deskpilot.macros import service as macros_service
from deskpilot.macros.schemas import MacroCreate
from deskpilot.tickets import service as tickets_service
from deskpilot.tickets.models import Ticket, TicketEvent
from deskpilot.tickets.schemas import MessageCreate
from tests.factories import Personas, make_ticket
from tests.pages import HTMX, sign_in
from tests.tickets.test_ticket_page_support import (
    DRAFT,
    add_ai_decision,
    form,
    ticket_with_conversation,
)


def _ticket(db: Database, ticket_id: int) -> Ticket:
    with db.session(write=False) as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None
        s.expunge(ticket)
        return ticket


# --- viewing -------------------------------------------------------------------------------------


def test_agent_sees_header_conversation_and_panels(
    client: TestClient, personas: Personas, db: Database
) -> None:
    ticket = ticket_with_conversation(db, personas)
    sign_in(client, personas.ann)
    r = client.get(f"/app/tickets/{ticket.number}")
    assert r.status_code == 200
    html = r.text
    assert "<html" in html
    assert 'href="/static/ticket.css' in html
    assert f'<span class="ticket-number">#{ticket.number}</span> Cannot log in' in html
    # The description opens the conversation; Markdown is rendered.
    assert "I reset my password but still cannot log in." in html
    assert "Still <strong>broken</strong> after the reset." in html
    # Internal notes are visibly different and labelled.
    assert 'class="message message-agent message-internal"' in html
    assert '<span class="note-label">Internal note</span>' in html
    assert html.count("Internal note</span>") == 1
    # Composer, keyboard shortcuts and the live-update hook.
    assert 'data-shortcut="r"' in html
    assert 'data-shortcut="n"' in html
    assert 'id="hf-assignee_id" name="value" data-shortcut="a"' in html
    assert f'data-sse-url="/app/tickets/{ticket.number}/events?since=' in html
    # Requester panel and the human-readable timeline.
    assert "dave@customer.example.com" in html
    assert "<strong>Ann</strong> added an internal note" in html
    assert "created the ticket (api)" in html
    # Only legal status moves are offered (new -> closed is not one).
    assert '<option value="in_progress" >In progress</option>' in html
    assert '<option value="closed"' not in html


def test_a_customers_images_are_links_so_opening_the_ticket_loads_nothing_remote(
    client: TestClient, personas: Personas, db: Database
) -> None:
    pixel = "https://tracker.example/p.gif?id=42"
    ticket = ticket_with_conversation(
        db, personas, description=f"It fails, see ![screenshot]({pixel})"
    )
    ann = personas.ann.ctx
    with db.session(write=True) as s:
        customer = Context(
            workspace_id=ann.workspace_id,
            user_id=None,
            role=Role.customer,
            contact_id=ticket.requester_id,
        )
        tickets_service.add_message(s, customer, ticket.id, MessageCreate(body=f"![]({pixel})"))
        tickets_service.add_message(
            s,
            ann,
            ticket.id,
            MessageCreate(body="Our diagram: ![flow](https://docs.example/f.png)"),
        )
        s.commit()
    sign_in(client, personas.ann)
    html = client.get(f"/app/tickets/{ticket.number}").text
    assert f'<img src="{pixel}' not in html
    assert f'<a href="{pixel}" rel="noopener noreferrer nofollow">Image: screenshot</a>' in html
    assert "Image (not loaded)</a>" in html
    # Staff's own images still show.
    assert '<img src="https://docs.example/f.png" alt="flow">' in html


def test_htmx_get_returns_the_refresh_partial(
    client: TestClient, personas: Personas, db: Database
) -> None:
    ticket = ticket_with_conversation(db, personas)
    sign_in(client, personas.ann)
    for url in (f"/app/tickets/{ticket.number}", f"/app/tickets/{ticket.number}/live"):
        r = client.get(url, headers=HTMX)
        assert r.status_code == 200
        assert "<html" not in r.text
        assert r.text.lstrip().startswith('<section id="ticket-header"')
        assert '<section id="ticket-conversation" class="conversation"' in r.text
        assert r.text.count('hx-swap-oob="true"') == 3  # conversation, AI panel, activity
        assert "Have you tried clearing cookies?" in r.text


def test_anonymous_is_sent_to_sign_in(client: TestClient, personas: Personas, db: Database) -> None:
    ticket = ticket_with_conversation(db, personas)
    r = client.get(f"/app/tickets/{ticket.number}", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == f"/login?next=/app/tickets/{ticket.number}"


def test_customer_gets_403(client: TestClient, personas: Personas, db: Database) -> None:
    ticket = ticket_with_conversation(db, personas)
    csrf = sign_in(client, personas.carol)
    r = client.get(f"/app/tickets/{ticket.number}")
    assert r.status_code == 403
    assert "Looks like the SSO bug again." not in r.text
    r = client.post(
        f"/app/tickets/{ticket.number}/fields", data=form(csrf, field="priority", value="high")
    )
    assert r.status_code == 403
    assert _ticket(db, ticket.id).priority == "normal"


def test_other_workspace_and_unknown_numbers_are_404(
    client: TestClient, personas: Personas, db: Database
) -> None:
    ticket = ticket_with_conversation(db, personas)
    csrf = sign_in(client, personas.gina)
    for url in (
        f"/app/tickets/{ticket.number}",
        f"/app/tickets/{ticket.number}/live",
        f"/app/tickets/{ticket.number}/events",
    ):
        r = client.get(url)
        assert r.status_code == 404, url
        assert "Cannot log in" not in r.text
    for path, data in (
        ("fields", {"field": "priority", "value": "urgent"}),
        ("messages", {"body": "hello from globex"}),
        ("merge", {"into_number": "1", "confirm": "yes"}),
        ("preview", {"body": "x"}),
    ):
        r = client.post(f"/app/tickets/{ticket.number}/{path}", data=form(csrf, **data))
        assert r.status_code == 404, path
    assert _ticket(db, ticket.id).priority == "normal"
    sign_in(client, personas.ann)
    assert client.get("/app/tickets/999").status_code == 404


# --- header fields -------------------------------------------------------------------------------


def test_change_priority_without_js_redirects_and_records_event(
    client: TestClient, personas: Personas, db: Database
) -> None:
    ticket = ticket_with_conversation(db, personas)
    csrf = sign_in(client, personas.ann)
    r = client.post(
        f"/app/tickets/{ticket.number}/fields",
        data=form(csrf, field="priority", value="high"),
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert r.headers["location"] == f"/app/tickets/{ticket.number}"
    assert _ticket(db, ticket.id).priority == "high"
    page = client.get(f"/app/tickets/{ticket.number}").text
    assert "Updated priority." in page
    assert "changed priority: normal → high" in page


def test_htmx_field_change_swaps_header(
    client: TestClient, personas: Personas, db: Database
) -> None:
    ticket = ticket_with_conversation(db, personas)
    csrf = sign_in(client, personas.ann)
    url = f"/app/tickets/{ticket.number}/fields"
    r = client.post(url, data=form(csrf, field="assignee_id", value=str(personas.bob.user_id)),
                    headers=HTMX)  # fmt: skip
    assert r.status_code == 200
    assert r.text.lstrip().startswith('<section id="ticket-header"')
    assert f'<option value="{personas.bob.user_id}" selected>Bob</option>' in r.text
    assert "assigned the ticket to Bob" in r.text  # the activity panel, out of band
    r = client.post(url, data=form(csrf, field="tags", value="vip, Login Issue,"), headers=HTMX)
    assert 'value="login-issue, vip"' in r.text
    r = client.post(url, data=form(csrf, field="assignee_id", value=""), headers=HTMX)
    assert '<option value="" selected>Unassigned</option>' in r.text
    r = client.post(url, data=form(csrf, field="team_id", value=str(personas.teams["acme_billing"])),
                    headers=HTMX)  # fmt: skip
    assert "moved the ticket to team Billing" in r.text
    ticket_now = _ticket(db, ticket.id)
    assert ticket_now.assignee_id is None
    assert ticket_now.team_id == personas.teams["acme_billing"]


def test_invalid_field_values_show_an_inline_error(
    client: TestClient, personas: Personas, db: Database
) -> None:
    ticket = ticket_with_conversation(db, personas)
    csrf = sign_in(client, personas.ann)
    url = f"/app/tickets/{ticket.number}/fields"
    # Another workspace's agent is not an assignee here.
    r = client.post(url, data=form(csrf, field="assignee_id", value=str(personas.gina.user_id)))
    assert r.status_code == 422
    assert "Unknown assignee." in r.text
    r = client.post(url, data=form(csrf, field="priority", value="whenever"), headers=HTMX)
    assert r.status_code == 422, "htmx is configured to swap 422, so the status stays honest"
    assert '<p class="ticket-error" role="alert">That priority is not valid.</p>' in r.text
    r = client.post(url, data=form(csrf, field="requester_id", value="1"))
    assert r.status_code == 422
    assert _ticket(db, ticket.id).assignee_id is None


def test_illegal_status_change_shows_allowed_targets(
    client: TestClient, personas: Personas, db: Database
) -> None:
    ticket = ticket_with_conversation(db, personas)
    csrf = sign_in(client, personas.ann)
    url = f"/app/tickets/{ticket.number}/fields"
    r = client.post(url, data=form(csrf, field="status", value="closed"))
    assert r.status_code == 409
    assert "Cannot move a ticket from new to closed. Allowed from here: in progress, resolved" in (
        r.text
    )
    r = client.post(url, data=form(csrf, field="status", value="closed"), headers=HTMX)
    assert r.status_code == 409
    assert "Allowed from here" in r.text
    assert "<html" not in r.text
    assert _ticket(db, ticket.id).status == "new"
    r = client.post(url, data=form(csrf, field="status", value="in_progress"), headers=HTMX)
    assert '<span class="badge badge-status-in_progress">In progress</span>' in r.text
    assert _ticket(db, ticket.id).status == "in_progress"


def test_post_without_csrf_is_rejected(
    client: TestClient, personas: Personas, db: Database
) -> None:
    ticket = ticket_with_conversation(db, personas)
    sign_in(client, personas.ann)
    for path, data in (
        ("fields", {"field": "priority", "value": "urgent"}),
        ("messages", {"body": "sneaky"}),
        ("merge", {"into_number": "1"}),
        ("macro", {"macro_id": "1"}),
        ("composer", {"mode": "internal"}),
    ):
        r = client.post(f"/app/tickets/{ticket.number}/{path}", data=data)
        assert r.status_code == 403, path
        assert "form expired" in r.text
    assert _ticket(db, ticket.id).priority == "normal"


# --- AI panel ------------------------------------------------------------------------------------


def test_ai_panel_shows_stored_predictions_decision_draft_and_escalation(
    client: TestClient, personas: Personas, db: Database
) -> None:
    ticket = ticket_with_conversation(db, personas)
    with db.session(write=True) as s:
        decision = add_ai_decision(s, personas.ann.workspace_id, ticket.id)
        escalations_service.escalate_ticket(
            s,
            personas.ann.ctx,
            ticket.id,
            reason="low_confidence",
            summary="Customer cannot sign in after a reset; SSO suspected.",
        )
        s.commit()
        decision_id = decision.id
    sign_in(client, personas.ann)
    html = client.get(f"/app/tickets/{ticket.number}").text
    assert '<dt>Type</dt><dd>Account <span class="muted small">91%</span></dd>' in html
    assert "<dt>Category</dt><dd>Login" in html
    assert '<span class="badge badge-decision-escalate">Escalate</span>' in html
    assert "confidence 0.42 below the answer threshold 0.70" in html
    assert "Open <strong>Settings</strong> and choose <em>Reset password</em>." in html
    assert '<a href="/help/acme/articles/reset">Reset your password</a>' in html
    assert f'href="/app/tickets/{ticket.number}?draft={decision_id}#composer"' in html
    assert "Customer cannot sign in after a reset; SSO suspected." in html


def test_kb_suggestions_come_from_the_cached_index(
    client: TestClient, personas: Personas, db: Database
) -> None:
    from deskpilot.kb.content import ArticleStatus
    from tests.kb.conftest import make_article, move_to

    admin = personas.acme_admin.ctx
    with db.session(write=True) as s:
        article = make_article(
            s,
            admin,
            title="Cannot log in after a password reset",
            body="Clear cookies, then log in.",
        )
        move_to(s, admin, article, ArticleStatus.published)
        s.commit()
    ticket = ticket_with_conversation(db, personas)
    sign_in(client, personas.ann)
    html = client.get(f"/app/tickets/{ticket.number}").text
    assert '<a href="/help/acme/articles/' in html
    assert "Cannot log in after a password reset</a>" in html


# --- requester, macros, merge --------------------------------------------------------------------


def test_requester_panel_shows_organization_recent_tickets_and_csat(
    client: TestClient, personas: Personas, db: Database
) -> None:
    ann = personas.ann.ctx
    with db.session(write=True) as s:
        org = Organization(
            workspace_id=ann.workspace_id, name="Customer Co", domain="customer.example.com",
            tier="enterprise", mrr=1250,
        )  # fmt: skip
        s.add(org)
        s.flush()
        old = make_ticket(s, ann, subject="Invoice question")
        old.organization_id = org.id
        assert old.requester is not None
        old.requester.organization_id = org.id
        old.requester.phone = "+1 555 0100"
        old.csat_score = 4
        s.commit()
    ticket = ticket_with_conversation(db, personas)
    sign_in(client, personas.ann)
    html = client.get(f"/app/tickets/{ticket.number}").text
    assert (
        f'<dt>Organization</dt><dd><a href="/app/organizations/{org.id}">Customer Co</a></dd>'
        in html
    )
    assert "<dt>Tier</dt><dd>enterprise</dd>" in html
    assert "<dt>MRR</dt><dd>1,250.00</dd>" in html
    assert "+1 555 0100" in html
    assert f'<a href="/app/tickets/{old.number}">#{old.number} Invoice question</a>' in html
    assert "CSAT: average <strong>4.0</strong>/5 from 1 rating" in html


def test_apply_macro_posts_reply_and_applies_changes(
    client: TestClient, personas: Personas, db: Database
) -> None:
    ticket = ticket_with_conversation(db, personas)
    with db.session(write=True) as s:
        macro, _ = macros_service.create_macro(
            s,
            personas.acme_admin.ctx,
            MacroCreate.model_validate(
                {
                    "name": "Ask for logs",
                    "body": "Hi {{ requester.name }}, please send logs.",
                    "changes": {"status": "waiting_customer"},
                    "shared": True,
                }
            ),
        )
        s.commit()
        macro_id = macro.id
    csrf = sign_in(client, personas.ann)
    html = client.get(f"/app/tickets/{ticket.number}").text
    assert f'<option value="{macro_id}">Ask for logs</option>' in html
    r = client.post(
        f"/app/tickets/{ticket.number}/macro",
        data=form(csrf, macro_id=str(macro_id)),
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert _ticket(db, ticket.id).status == "waiting_customer"
    assert "Hi Dave, please send logs." in client.get(f"/app/tickets/{ticket.number}").text


def test_merge_asks_for_confirmation_then_merges(
    client: TestClient, personas: Personas, db: Database
) -> None:
    source = ticket_with_conversation(db, personas)
    with db.session(write=True) as s:
        target = make_ticket(s, personas.ann.ctx, subject="Login broken (original)")
        s.commit()
        target_number, target_id = target.number, target.id
    csrf = sign_in(client, personas.ann)
    url = f"/app/tickets/{source.number}/merge"
    r = client.post(url, data=form(csrf, into_number=f"#{target_number}"))
    assert r.status_code == 200
    assert f"Merge into #{target_number}</button>" in r.text
    assert "Login broken (original)" in r.text
    assert _ticket(db, source.id).merged_into_id is None  # nothing happens before confirming
    r = client.post(url, data=form(csrf, into_number=str(target_number)), headers=HTMX)
    assert r.text.lstrip().startswith('<section id="ticket-merge"')
    assert "<html" not in r.text
    r = client.post(
        url,
        data=form(csrf, into_number=str(target_number), confirm="yes"),
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert r.headers["location"] == f"/app/tickets/{target_number}"
    assert _ticket(db, source.id).merged_into_id == target_id
    html = client.get(f"/app/tickets/{target_number}").text
    assert f"Merged #{source.number} into #{target_number}." in html
    assert "Have you tried clearing cookies?" in html  # the messages moved over
    assert f"merged ticket #{source.number} into this one" in html


def test_merge_refuses_unknown_foreign_and_self(
    client: TestClient, personas: Personas, db: Database
) -> None:
    source = ticket_with_conversation(db, personas)
    with db.session(write=True) as s:
        foreign = make_ticket(s, personas.gina.ctx, subject="Globex only")
        s.commit()
        foreign_number = foreign.number
    csrf = sign_in(client, personas.ann)
    url = f"/app/tickets/{source.number}/merge"
    r = client.post(url, data=form(csrf, into_number="4242", confirm="yes"))
    assert r.status_code == 422
    assert "There is no ticket #4242." in r.text
    r = client.post(url, data=form(csrf, into_number=str(source.number), confirm="yes"))
    assert r.status_code == 422
    assert "Cannot merge a ticket into itself." in r.text
    r = client.post(url, data=form(csrf, into_number="abc"))
    assert r.status_code == 422
    # Globex's ticket #1 is invisible: acme's own #1 (the source) answers instead.
    assert foreign_number == source.number
    assert "Globex only" not in r.text
    with db.session(write=False) as s:
        events = s.scalars(
            select(TicketEvent).where(TicketEvent.kind == "merged").order_by(TicketEvent.id)
        ).all()
    assert events == []


def test_merged_ticket_header_links_to_target(
    client: TestClient, personas: Personas, db: Database
) -> None:
    ann: Context = personas.ann.ctx
    assert ann.role == Role.agent
    with db.session(write=True) as s:
        a = make_ticket(s, ann, subject="Duplicate")
        b = make_ticket(s, ann, subject="Original")
        tickets_service.merge_tickets(s, ann, a.id, b.id)
        s.commit()
        a_number, b_number = a.number, b.number
    sign_in(client, personas.ann)
    html = client.get(f"/app/tickets/{a_number}").text
    assert f'merged into <a href="/app/tickets/{b_number}">#{b_number}</a>' in html
    assert DRAFT not in html


def test_refused_macro_posts_nothing(client: TestClient, personas: Personas, db: Database) -> None:
    ticket = ticket_with_conversation(db, personas)
    with db.session(write=True) as s:
        macro, _ = macros_service.create_macro(
            s,
            personas.ann.ctx,
            MacroCreate.model_validate(
                {"name": "Close it", "body": "Closing now.", "changes": {"status": "closed"}}
            ),
        )
        s.commit()
        macro_id = macro.id
    csrf = sign_in(client, personas.ann)
    r = client.post(f"/app/tickets/{ticket.number}/macro", data=form(csrf, macro_id=str(macro_id)))
    assert r.status_code == 200
    assert "Cannot move a ticket from new to closed" in r.text
    assert "Closing now." not in r.text
    assert _ticket(db, ticket.id).status == "new"
