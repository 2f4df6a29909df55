"""The ticket page's composer: replies, notes, attachments, preview, status, AI draft insert."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from deskpilot.db.engine import Database
from deskpilot.tickets.models import Attachment, Message, Ticket
from tests.factories import Personas, make_ticket
from tests.pages import HTMX, sign_in
from tests.tickets.test_ticket_page_support import (
    DRAFT,
    add_ai_decision,
    form,
    ticket_with_conversation,
)


def _messages(db: Database, ticket_id: int) -> list[Message]:
    with db.session(write=False) as s:
        rows = list(
            s.scalars(select(Message).where(Message.ticket_id == ticket_id).order_by(Message.id))
        )
        for row in rows:
            s.expunge(row)
        return rows


def _status(db: Database, ticket_id: int) -> str:
    with db.session(write=False) as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None
        return ticket.status


def test_public_reply_without_js_redirects_to_the_message(
    client: TestClient, personas: Personas, db: Database
) -> None:
    ticket = ticket_with_conversation(db, personas)
    csrf = sign_in(client, personas.ann)
    r = client.post(
        f"/app/tickets/{ticket.number}/messages",
        data=form(csrf, visibility="public", body="Please try **again** now."),
        follow_redirects=False,
    )
    assert r.status_code == 303
    last = _messages(db, ticket.id)[-1]
    assert r.headers["location"] == f"/app/tickets/{ticket.number}#m-{last.id}"
    assert (last.author_type, last.visibility, last.ai_meta) == ("agent", "public", None)
    assert last.author_user_id == personas.ann.user_id
    html = client.get(f"/app/tickets/{ticket.number}").text
    assert "Reply sent." in html
    assert "Please try <strong>again</strong> now." in html


def test_internal_note_with_attachment_links_to_download(
    client: TestClient, personas: Personas, db: Database
) -> None:
    ticket = ticket_with_conversation(db, personas)
    csrf = sign_in(client, personas.ann)
    r = client.post(
        f"/app/tickets/{ticket.number}/messages",
        data=form(csrf, visibility="internal", body="Logs attached."),
        files=[
            ("files", ("server.log", b"error: token expired\n", "text/plain")),
            ("files", ("", b"", "application/octet-stream")),  # an empty file input
        ],
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    note = _messages(db, ticket.id)[-1]
    assert note.visibility == "internal"
    with db.session(write=False) as s:
        attachments = list(s.scalars(select(Attachment).where(Attachment.message_id == note.id)))
    assert [a.filename for a in attachments] == ["server.log"]
    html = client.get(f"/app/tickets/{ticket.number}").text
    assert f'<a href="/api/v1/attachments/{attachments[0].id}" download>server.log</a>' in html
    download = client.get(f"/api/v1/attachments/{attachments[0].id}")
    assert download.status_code == 200
    assert download.content == b"error: token expired\n"


def test_empty_body_is_refused_with_the_form_kept(
    client: TestClient, personas: Personas, db: Database
) -> None:
    ticket = ticket_with_conversation(db, personas)
    csrf = sign_in(client, personas.ann)
    before = len(_messages(db, ticket.id))
    r = client.post(
        f"/app/tickets/{ticket.number}/messages",
        data=form(csrf, visibility="internal", body="   ", then_status="resolved"),
    )
    assert r.status_code == 422
    assert "Write a message first." in r.text
    assert '<input type="radio" name="visibility" value="internal" checked>' in r.text
    r = client.post(
        f"/app/tickets/{ticket.number}/messages", data=form(csrf, body=""), headers=HTMX
    )
    assert r.status_code == 422
    assert r.headers["HX-Retarget"] == "#composer"
    assert r.text.lstrip().startswith('<section id="composer"')
    assert len(_messages(db, ticket.id)) == before


def test_send_and_resolve_changes_status(
    client: TestClient, personas: Personas, db: Database
) -> None:
    ticket = ticket_with_conversation(db, personas)
    csrf = sign_in(client, personas.ann)
    r = client.post(
        f"/app/tickets/{ticket.number}/messages",
        data=form(csrf, body="Fixed on our side.", then_status="resolved"),
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert _status(db, ticket.id) == "resolved"
    # From resolved, "waiting on customer" is not a legal move: nothing is sent.
    before = len(_messages(db, ticket.id))
    r = client.post(
        f"/app/tickets/{ticket.number}/messages",
        data=form(csrf, body="One more thing", then_status="waiting_customer"),
    )
    assert r.status_code == 422
    assert "Cannot move a ticket from resolved to waiting_customer" in r.text
    assert "Allowed from here: closed, in progress" in r.text
    assert len(_messages(db, ticket.id)) == before
    assert _status(db, ticket.id) == "resolved"


def test_htmx_send_returns_conversation_and_fresh_composer(
    client: TestClient, personas: Personas, db: Database
) -> None:
    ticket = ticket_with_conversation(db, personas)
    csrf = sign_in(client, personas.ann)
    r = client.post(
        f"/app/tickets/{ticket.number}/messages",
        data=form(csrf, visibility="internal", body="Checked the SSO config.",
                  then_status="waiting_internal"),
        headers=HTMX,
    )  # fmt: skip
    assert r.status_code == 200
    assert "<html" not in r.text
    assert "Checked the SSO config." in r.text  # conversation, out of band
    assert '<section id="composer" class="composer card is-internal"' in r.text
    assert '<textarea id="composer-body" name="body" rows="7" ></textarea>' in r.text
    assert "Internal note added." in r.text
    assert '<span class="badge badge-status-waiting_internal">' in r.text
    assert _status(db, ticket.id) == "waiting_internal"


def test_preview_renders_sanitized_markdown(
    client: TestClient, personas: Personas, db: Database
) -> None:
    ticket = ticket_with_conversation(db, personas)
    csrf = sign_in(client, personas.ann)
    body = "**Bold** <script>alert(1)</script> [link](javascript:alert)"
    r = client.post(f"/app/tickets/{ticket.number}/preview", data=form(csrf, body=body),
                    headers=HTMX)  # fmt: skip
    assert r.status_code == 200
    assert "<strong>Bold</strong>" in r.text
    assert "<script>" not in r.text
    assert "&lt;script&gt;" in r.text
    assert 'href="javascript:' not in r.text
    assert "<html" not in r.text
    # Without JavaScript the whole page comes back with the preview and the text kept.
    r = client.post(f"/app/tickets/{ticket.number}/preview", data=form(csrf, body="*hi*"))
    assert r.status_code == 200
    assert '<p class="preview-label">Preview</p>' in r.text
    assert "<em>hi</em>" in r.text
    assert ">*hi*</textarea>" in r.text
    assert len(_messages(db, ticket.id)) == 3  # previews never send


def test_mode_switch_keeps_text_and_focuses_the_textarea(
    client: TestClient, personas: Personas, db: Database
) -> None:
    ticket = ticket_with_conversation(db, personas)
    csrf = sign_in(client, personas.ann)
    r = client.post(
        f"/app/tickets/{ticket.number}/composer",
        data=form(csrf, visibility="public", mode="internal", body="draft <b>text</b>"),
        headers=HTMX,
    )
    assert r.status_code == 200
    assert r.text.lstrip().startswith('<section id="composer" class="composer card is-internal"')
    assert '<input type="radio" name="visibility" value="internal" checked>' in r.text
    assert "autofocus" in r.text
    assert "draft &lt;b&gt;text&lt;/b&gt;</textarea>" in r.text
    assert "Internal note (only agents see this)" in r.text


def test_inserted_draft_is_recorded_as_ai_assist(
    client: TestClient, personas: Personas, db: Database
) -> None:
    ticket = ticket_with_conversation(db, personas)
    with db.session(write=True) as s:
        decision_id = add_ai_decision(s, personas.ann.workspace_id, ticket.id).id
        s.commit()
    csrf = sign_in(client, personas.ann)
    # Insert with htmx: the composer comes back holding the draft and the decision id.
    r = client.post(
        f"/app/tickets/{ticket.number}/composer",
        data=form(csrf, insert_draft=str(decision_id)),
        headers=HTMX,
    )
    assert f"{DRAFT}</textarea>" in r.text
    assert f'name="assisted_by_decision_id" value="{decision_id}"' in r.text
    # Insert without JavaScript: a link that opens the page with the draft in the composer.
    page = client.get(f"/app/tickets/{ticket.number}?draft={decision_id}").text
    assert f'name="assisted_by_decision_id" value="{decision_id}"' in page
    r = client.post(
        f"/app/tickets/{ticket.number}/messages",
        data=form(csrf, body=DRAFT + " Let us know!", assisted_by_decision_id=str(decision_id)),
        follow_redirects=False,
    )
    assert r.status_code == 303
    sent = _messages(db, ticket.id)[-1]
    assert sent.author_type == "agent"
    assert sent.ai_meta == {"assisted_by_decision_id": decision_id, "draft_edited": True}
    assert "AI-assisted</span>" in client.get(f"/app/tickets/{ticket.number}").text


def test_a_draft_from_another_ticket_is_not_inserted_or_credited(
    client: TestClient, personas: Personas, db: Database
) -> None:
    ticket = ticket_with_conversation(db, personas)
    with db.session(write=True) as s:
        other = make_ticket(s, personas.ann.ctx, subject="Other")
        foreign = make_ticket(s, personas.gina.ctx, subject="Globex")
        other_decision = add_ai_decision(s, personas.ann.workspace_id, other.id).id
        foreign_decision = add_ai_decision(s, personas.gina.workspace_id, foreign.id).id
        s.commit()
    csrf = sign_in(client, personas.ann)
    for decision_id in (other_decision, foreign_decision):
        r = client.get(f"/app/tickets/{ticket.number}?draft={decision_id}")
        assert r.status_code == 404
        r = client.post(
            f"/app/tickets/{ticket.number}/composer",
            data=form(csrf, insert_draft=str(decision_id)),
        )
        assert r.status_code == 404
        assert DRAFT not in r.text
    r = client.post(
        f"/app/tickets/{ticket.number}/messages",
        data=form(csrf, body="Hand written", assisted_by_decision_id=str(foreign_decision)),
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert _messages(db, ticket.id)[-1].ai_meta is None
