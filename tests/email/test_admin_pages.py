"""Admin pages for mail settings and notification templates (/admin/email...)."""

from __future__ import annotations

import html
from typing import Any

import pytest
from fastapi.testclient import TestClient

from deskpilot.db.engine import Database
from deskpilot.email import settings_service, templates_service
from deskpilot.email.schemas import MailSettingsRead, MailSettingsWrite
from deskpilot.email.templates_service import TemplateRead, TemplateWrite
from deskpilot.settings import Settings
from tests.factories import Persona, Personas
from tests.pages import HTMX, sign_in

GET_PAGES = ["/admin/email", "/admin/email/templates", "/admin/email/templates/ticket_received"]
POST_ROUTES = [
    "/admin/email",
    "/admin/email/templates/ticket_received",
    "/admin/email/templates/ticket_received/preview",
    "/admin/email/templates/ticket_received/reset",
]
FULL_FORM: dict[str, Any] = {
    "enabled": "1",
    "support_address": "Help@Acme.Example",
    "from_name": "Acme Support",
    "own_addresses": "noreply@acme.example\nBilling@acme.example",
    "subject_tag": "[Acme {number}]",
    "closed_reply_policy": "follow_up",
    "outbound_backend": "smtp",
    "smtp_host": "smtp.acme.example",
    "smtp_port": "465",
    "smtp_security": "tls",
    "smtp_username": "mailer",
    "smtp_password_ref": "env:ACME_SMTP_PASSWORD",
    "imap_host": "imap.acme.example",
    "imap_port": "143",
    "imap_security": "starttls",
    "imap_username": "inbox",
    "imap_password_ref": "env:ACME_IMAP_PASSWORD",
    "imap_folder": "Support",
    "imap_processed_folder": "Done",
    "max_replies_per_sender_per_hour": "25",
    "notify": ["ticket_received", "resolved_csat"],
}


def _settings(db: Database, persona: Persona) -> MailSettingsRead:
    with db.session(write=False) as s:
        return settings_service.read_settings(s, persona.ctx)


def _template(db: Database, persona: Persona, kind: str) -> TemplateRead:
    with db.session(write=False) as s:
        return templates_service.read_template(s, persona.ctx, kind)


def _configure(db: Database, persona: Persona, **values: Any) -> None:
    with db.session(write=True) as s:
        data = MailSettingsWrite.model_validate(
            {"support_address": "support@acme.example", **values}
        )
        settings_service.write_settings(s, persona.ctx, data)
        s.commit()


def _customize(db: Database, persona: Persona, kind: str = "ticket_received") -> None:
    with db.session(write=True) as s:
        data = TemplateWrite(
            kind=kind,
            subject="Got it: {{ ticket.subject }}",
            body_text="Number {{ ticket.number }}",
        )
        templates_service.save_template(s, persona.ctx, data)
        s.commit()


def _post_settings(client: TestClient, csrf: str, **changes: Any) -> Any:
    return client.post(
        "/admin/email", data={**FULL_FORM, **changes, "csrf_token": csrf}, follow_redirects=False
    )


# --- who may open the pages ------------------------------------------------------------------


@pytest.mark.parametrize("path", GET_PAGES)
@pytest.mark.parametrize("who", ["acme_owner", "acme_admin"])
def test_owners_and_admins_open_the_email_pages(
    client: TestClient, personas: Personas, path: str, who: str
) -> None:
    sign_in(client, getattr(personas, who))
    r = client.get(path)
    assert r.status_code == 200
    assert 'aria-label="Admin sections"' in r.text
    assert '<a href="/admin/email" aria-current="page">Email</a>' in r.text


@pytest.mark.parametrize("path", GET_PAGES)
@pytest.mark.parametrize("who", ["ann", "carol"])
def test_agents_and_customers_get_403(
    client: TestClient, personas: Personas, path: str, who: str
) -> None:
    sign_in(client, getattr(personas, who))
    r = client.get(path)
    assert r.status_code == 403
    assert "You can&#39;t open this page" in r.text


@pytest.mark.parametrize("path", GET_PAGES)
def test_anonymous_visitors_are_sent_to_sign_in(
    client: TestClient, personas: Personas, path: str
) -> None:
    r = client.get(path, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=" + path


@pytest.mark.parametrize("path", POST_ROUTES)
@pytest.mark.parametrize("who", ["ann", "carol"])
def test_agents_and_customers_cannot_post(
    client: TestClient, personas: Personas, db: Database, path: str, who: str
) -> None:
    csrf = sign_in(client, getattr(personas, who))
    form = {**FULL_FORM, "subject": "Hi", "body_text": "Hello", "csrf_token": csrf}
    r = client.post(path, data=form)
    assert r.status_code == 403
    assert "You can&#39;t open this page" in r.text
    assert _settings(db, personas.acme_admin).configured is False
    assert _template(db, personas.acme_admin, "ticket_received").customized is False


@pytest.mark.parametrize("path", POST_ROUTES)
def test_anonymous_posts_are_sent_to_sign_in(
    client: TestClient, personas: Personas, path: str
) -> None:
    r = client.post(path, data={"subject": "Hi"}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize("path", POST_ROUTES)
def test_posts_without_the_csrf_token_are_refused(
    client: TestClient, personas: Personas, db: Database, path: str
) -> None:
    _customize(db, personas.acme_admin)
    sign_in(client, personas.acme_admin)
    form = {**FULL_FORM, "subject": "Changed", "body_text": "Changed"}
    r = client.post(path, data=form)
    assert r.status_code == 403
    assert "Your form expired or came from another site" in r.text
    assert _settings(db, personas.acme_admin).configured is False
    template = _template(db, personas.acme_admin, "ticket_received")
    assert (template.customized, template.subject) == (True, "Got it: {{ ticket.subject }}")


# --- mail settings ---------------------------------------------------------------------------


def test_unconfigured_workspace_sees_defaults_and_the_inbound_endpoint(
    client: TestClient, personas: Personas, settings: Settings
) -> None:
    sign_in(client, personas.acme_admin)
    page = client.get("/admin/email").text
    assert "Email is off for this workspace until you save" in page
    assert 'name="subject_tag" type="text" value="[#{number}]"' in page
    assert 'name="smtp_port" type="number" value="587"' in page
    assert 'name="imap_folder" type="text" value="INBOX"' in page
    endpoint = f"{settings.base_url.rstrip('/')}/api/v1/email/inbound/acme"
    assert f'id="copy-http-endpoint" class="secret-value" type="text" value="{endpoint}"' in page
    assert "Save a support address to receive mail." in page
    assert page.count("Not set") == 2
    assert 'name="notify" value="ticket_received">' in page  # unticked
    assert "Remove the stored reference" not in page


def test_saving_the_form_stores_every_field(
    client: TestClient, personas: Personas, db: Database
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    r = _post_settings(client, csrf)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/admin/email"
    saved = _settings(db, personas.acme_admin)
    assert saved.model_dump(exclude={"updated_at"}) == {
        "configured": True,
        "enabled": True,
        "support_address": "help@acme.example",
        "from_name": "Acme Support",
        "own_addresses": ["billing@acme.example", "noreply@acme.example"],
        "subject_tag": "[Acme {number}]",
        "closed_reply_policy": "follow_up",
        "outbound_backend": "smtp",
        "smtp_host": "smtp.acme.example",
        "smtp_port": 465,
        "smtp_security": "tls",
        "smtp_username": "mailer",
        "smtp_password_ref": "env:ACME_SMTP_PASSWORD",
        "imap_host": "imap.acme.example",
        "imap_port": 143,
        "imap_security": "starttls",
        "imap_username": "inbox",
        "imap_password_ref": "env:ACME_IMAP_PASSWORD",
        "imap_folder": "Support",
        "imap_processed_folder": "Done",
        "max_replies_per_sender_per_hour": 25,
        "notifications": {
            "ticket_received": True,
            "resolved_csat": True,
            "ai_confirmation": False,
            "escalation_assigned": False,
        },
    }
    page = client.get("/admin/email").text
    assert "Mail settings saved." in page
    assert (
        'id="copy-support-address" class="secret-value" type="text" value="help@acme.example"'
        in page
    )
    assert 'value="help+t42@acme.example"' in page
    assert "Mailbox polled: <code>inbox@imap.acme.example:143, folder Support</code>" in page
    assert '<option value="follow_up" selected>' in page
    assert 'name="notify" value="resolved_csat" checked>' in page
    assert 'name="notify" value="ai_confirmation">' in page
    assert "Email is off for this workspace" not in page


def test_password_references_are_never_put_back_into_the_form(
    client: TestClient, personas: Personas, db: Database
) -> None:
    _configure(db, personas.acme_admin, smtp_password_ref="env:ACME_SMTP_PASSWORD")
    sign_in(client, personas.acme_admin)
    page = client.get("/admin/email").text
    assert (
        "badge-on\">Set</span> Read from the server's environment variable <code>ACME_SMTP_PASSWORD</code>"
        in html.unescape(page)
    )
    assert 'name="smtp_password_ref" type="text" value=""' in page
    assert 'name="imap_password_ref" type="text" value=""' in page
    assert 'value="env:ACME_SMTP_PASSWORD"' not in page
    assert "Remove the stored reference" in page


def test_an_empty_password_field_keeps_the_stored_reference(
    client: TestClient, personas: Personas, db: Database
) -> None:
    _configure(
        db, personas.acme_admin, smtp_password_ref="env:OLD_SMTP", imap_password_ref="env:OLD_IMAP"
    )
    csrf = sign_in(client, personas.acme_admin)
    r = _post_settings(
        client, csrf, smtp_password_ref="", imap_password_ref="", from_name="New name"
    )
    assert r.status_code == 303
    saved = _settings(db, personas.acme_admin)
    assert (saved.from_name, saved.smtp_password_ref, saved.imap_password_ref) == (
        "New name", "env:OLD_SMTP", "env:OLD_IMAP",
    )  # fmt: skip


def test_a_new_reference_replaces_and_the_box_clears(
    client: TestClient, personas: Personas, db: Database
) -> None:
    _configure(
        db, personas.acme_admin, smtp_password_ref="env:OLD_SMTP", imap_password_ref="env:OLD_IMAP"
    )
    csrf = sign_in(client, personas.acme_admin)
    r = _post_settings(
        client,
        csrf,
        smtp_password_ref="env:NEW_SMTP",
        imap_password_ref="",
        imap_password_clear="1",
    )
    assert r.status_code == 303
    saved = _settings(db, personas.acme_admin)
    assert (saved.smtp_password_ref, saved.imap_password_ref) == ("env:NEW_SMTP", None)


def test_a_pasted_password_is_refused_and_not_shown_again(
    client: TestClient, personas: Personas, db: Database
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    r = _post_settings(client, csrf, smtp_password_ref="hunter2-secret")
    assert r.status_code == 422
    assert "hunter2-secret" not in r.text
    assert (
        '<p class="field-error" id="smtp_password_ref-error">Write env:NAME, the name of an '
        "environment variable" in r.text
    )
    # The rest of the form comes back as typed.
    assert 'name="smtp_host" type="text" value="smtp.acme.example"' in r.text
    assert _settings(db, personas.acme_admin).configured is False


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("support_address", "not-an-address", "value is not a valid email address"),
        ("support_address", "", "value is not a valid email address"),
        ("subject_tag", "[Ticket #]", "must contain {number} exactly once"),
        ("smtp_port", "70000", "Input should be less than or equal to 65535"),
        ("imap_port", "abc", "Input should be a valid integer"),
        ("max_replies_per_sender_per_hour", "1001", "Input should be less than or equal to 1000"),
        ("own_addresses", "ok@acme.example\nnot an address", "value is not a valid email address"),
        (
            "closed_reply_policy",
            "ignore",
            "Input should be &#39;reopen&#39; or &#39;follow_up&#39;",
        ),
    ],
)
def test_invalid_settings_are_shown_next_to_the_field(
    client: TestClient, personas: Personas, db: Database, field: str, value: str, message: str
) -> None:
    _configure(db, personas.acme_admin, from_name="Before")
    csrf = sign_in(client, personas.acme_admin)
    r = _post_settings(client, csrf, **{field: value})
    assert r.status_code == 422
    assert f'<p class="field-error" id="{field}-error">{message}' in r.text
    assert "The settings were not saved" in r.text
    assert _settings(db, personas.acme_admin).from_name == "Before"


def test_an_address_used_by_another_workspace_is_a_conflict(
    client: TestClient, personas: Personas, db: Database
) -> None:
    with db.session(write=True) as s:
        data = MailSettingsWrite(support_address="help@acme.example")
        settings_service.write_settings(s, personas.globex_owner.ctx, data)
        s.commit()
    csrf = sign_in(client, personas.acme_admin)
    r = _post_settings(client, csrf)
    assert r.status_code == 409
    assert (
        '<p class="field-error" id="support_address-error">'
        "This support address is used by another workspace" in r.text
    )
    assert _settings(db, personas.acme_admin).configured is False


def test_unticked_boxes_switch_off_and_unknown_notification_keys_stay(
    client: TestClient, personas: Personas, db: Database
) -> None:
    _configure(
        db, personas.acme_admin, notifications={"ticket_received": True, "agent_reply": True}
    )
    csrf = sign_in(client, personas.acme_admin)
    form = {**FULL_FORM, "csrf_token": csrf, "notify": ["escalation_assigned"]}
    del form["enabled"]
    assert client.post("/admin/email", data=form, follow_redirects=False).status_code == 303
    saved = _settings(db, personas.acme_admin)
    assert saved.enabled is False
    assert saved.notifications == {
        "agent_reply": True,
        "ticket_received": False,
        "resolved_csat": False,
        "ai_confirmation": False,
        "escalation_assigned": True,
    }


def test_blank_numbers_and_folder_take_their_defaults(
    client: TestClient, personas: Personas, db: Database
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    r = _post_settings(
        client, csrf, smtp_port="", imap_port="", imap_folder=" ", max_replies_per_sender_per_hour="",
        smtp_host="", imap_processed_folder="",
    )  # fmt: skip
    assert r.status_code == 303
    saved = _settings(db, personas.acme_admin)
    assert (saved.smtp_port, saved.imap_port, saved.imap_folder) == (587, 993, "INBOX")
    assert (saved.max_replies_per_sender_per_hour, saved.smtp_host) == (10, None)
    assert saved.imap_processed_folder is None


def test_each_workspace_sees_only_its_own_settings(
    client: TestClient, personas: Personas, db: Database
) -> None:
    _configure(db, personas.acme_admin, smtp_password_ref="env:ACME_SMTP")
    sign_in(client, personas.globex_owner)
    page = client.get("/admin/email").text
    assert "support@acme.example" not in page
    assert "ACME_SMTP" not in page
    assert "/api/v1/email/inbound/globex" in page
    assert "Email is off for this workspace" in page


# --- templates -------------------------------------------------------------------------------


def test_template_list_shows_each_kind_with_its_state(
    client: TestClient, personas: Personas, db: Database
) -> None:
    _configure(db, personas.acme_admin, notifications={"resolved_csat": True})
    _customize(db, personas.acme_admin, "ticket_received")
    sign_in(client, personas.acme_admin)
    page = client.get("/admin/email/templates").text
    rows = page.split("<tr data-nav-row>")[1:]
    assert [row.split('href="')[1].split('"')[0] for row in rows] == [
        "/admin/email/templates/ticket_received",
        "/admin/email/templates/resolved_csat",
        "/admin/email/templates/ai_confirmation",
        "/admin/email/templates/escalation_assigned",
    ]
    assert 'badge-warn">Customised' in rows[0]
    assert 'badge-off">Off' in rows[0]
    assert 'badge-off">Built-in' in rows[1]
    assert 'badge-on">On' in rows[1]
    assert "To the agent who is given an escalated ticket" in rows[3]


def test_template_page_shows_variables_and_a_preview_with_sample_values(
    client: TestClient, personas: Personas, settings: Settings
) -> None:
    sign_in(client, personas.acme_admin)
    page = client.get("/admin/email/templates/resolved_csat").text
    assert "<h1>Resolved, with rating</h1>" in page
    assert "<code>{{ rate.url_5 }}</code></dt><dd>Link that rates the help 5 out of 5</dd>" in page
    assert "{{ confirm.yes_url }}" not in page  # another kind's placeholder
    assert 'data-preview="subject">Resolved: Cannot log in</dd>' in page
    assert "Hello Dana Example," in page
    assert f"{settings.base_url.rstrip('/')}/email/rate/sample-3" in page
    assert 'sandbox="" srcdoc="&lt;p&gt;Hello Dana Example,&lt;/p&gt;' in page
    assert 'name="subject" type="text" value="Resolved: {{ ticket.subject }}"' in page
    assert "Reset to default" not in page  # nothing of its own to reset


def test_saving_a_template_stores_it(client: TestClient, personas: Personas, db: Database) -> None:
    csrf = sign_in(client, personas.acme_admin)
    form = {
        "csrf_token": csrf,
        "subject": "  Thanks, {{ requester.name }}  ",
        "body_text": "We have ticket {{ ticket.number }}.",
        "body_html": "",
    }
    r = client.post("/admin/email/templates/ticket_received", data=form, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/admin/email/templates/ticket_received"
    saved = _template(db, personas.acme_admin, "ticket_received")
    assert (saved.customized, saved.subject, saved.body_text, saved.body_html) == (
        True, "Thanks, {{ requester.name }}", "We have ticket {{ ticket.number }}.", None,
    )  # fmt: skip
    page = client.get("/admin/email/templates/ticket_received").text
    assert "Template Ticket received saved." in page
    assert "Customised</span> This workspace's own text is used." in page
    assert "No HTML part." in page
    assert "Reset to default" in page


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("body_text", "Vote {{ rate.url_1 }}", "unknown variable &#39;rate.url_1&#39;"),
        ("body_html", "<p>{{ ticket.nope }}</p>", "unknown variable &#39;ticket.nope&#39;"),
        ("subject", "   ", "String should have at least 1 character"),
        ("body_text", "", "String should have at least 1 character"),
    ],
)
def test_invalid_templates_are_shown_next_to_the_field(
    client: TestClient, personas: Personas, db: Database, field: str, value: str, message: str
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    form = {"csrf_token": csrf, "subject": "Hi", "body_text": "Hello", "body_html": ""}
    r = client.post("/admin/email/templates/ticket_received", data={**form, field: value})
    assert r.status_code == 422
    assert f'<p class="field-error" id="{field}-error">{message}' in r.text
    assert "The template was not saved" in r.text
    assert _template(db, personas.acme_admin, "ticket_received").customized is False


@pytest.mark.parametrize("method", ["get", "post"])
def test_an_unknown_kind_is_404(client: TestClient, personas: Personas, method: str) -> None:
    csrf = sign_in(client, personas.acme_admin)
    path = "/admin/email/templates/password_reset"
    if method == "get":
        r = client.get(path)
    else:
        r = client.post(path, data={"csrf_token": csrf, "subject": "Hi", "body_text": "Hello"})
    assert r.status_code == 404
    assert "password_reset" in html.unescape(r.text)


def test_preview_is_an_htmx_fragment_that_saves_nothing(
    client: TestClient, personas: Personas, db: Database
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    form = {
        "csrf_token": csrf,
        "subject": "Hi {{ requester.name }}",
        "body_text": "Ticket {{ ticket.number }} at {{ workspace.name }} {{ ai.answer }}",
        "body_html": '<p>{{ ticket.subject }}</p><script>alert("x")</script>',
    }
    r = client.post("/admin/email/templates/ticket_received/preview", data=form, headers=HTMX)
    assert r.status_code == 200
    assert r.text.lstrip().startswith('<section id="template-preview"')
    assert "<h1>" not in r.text
    assert 'data-preview="subject">Hi Dana Example</dd>' in r.text
    assert "Ticket 42 at Acme {{ ai.answer }}" in r.text
    assert "Unknown placeholders, refused on save: <code>ai.answer</code>" in r.text
    # The template's HTML only appears escaped inside the sandboxed frame, never as markup.
    assert "<script>" not in r.text
    assert 'srcdoc="&lt;p&gt;Cannot log in&lt;/p&gt;&lt;script&gt;' in r.text
    assert _template(db, personas.acme_admin, "ticket_received").customized is False


def test_preview_without_javascript_returns_the_whole_page(
    client: TestClient, personas: Personas
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    form = {"csrf_token": csrf, "subject": "Draft {{ ticket.number }}", "body_text": "Body"}
    r = client.post("/admin/email/templates/ticket_received/preview", data=form)
    assert r.status_code == 200
    assert "<h1>Ticket received</h1>" in r.text
    assert 'name="subject" type="text" value="Draft {{ ticket.number }}"' in r.text
    assert 'data-preview="subject">Draft 42</dd>' in r.text


def test_reset_goes_back_to_the_built_in_text(
    client: TestClient, personas: Personas, db: Database
) -> None:
    _customize(db, personas.acme_admin)
    csrf = sign_in(client, personas.acme_admin)
    page = client.get("/admin/email/templates/ticket_received").text
    assert (
        'data-confirm="Discard your version of Ticket received and use the built-in text?"' in page
    )
    r = client.post(
        "/admin/email/templates/ticket_received/reset",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303
    saved = _template(db, personas.acme_admin, "ticket_received")
    assert saved.customized is False
    assert saved.subject == "We received your request: {{ ticket.subject }}"
    assert (
        "Template Ticket received is back to the built-in text."
        in client.get(r.headers["location"]).text
    )


def test_templates_of_another_workspace_are_not_shown_or_changed(
    client: TestClient, personas: Personas, db: Database
) -> None:
    _customize(db, personas.acme_admin)
    csrf = sign_in(client, personas.globex_owner)
    page = client.get("/admin/email/templates/ticket_received").text
    assert "Got it:" not in page
    assert "Built-in</span> The built-in text is used." in page
    r = client.post(
        "/admin/email/templates/ticket_received/reset",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert _template(db, personas.acme_admin, "ticket_received").customized is True


def test_preview_escapes_values_in_the_html_part_only(personas: Personas) -> None:
    preview = templates_service.preview_template(
        personas.acme_admin.ctx,
        "ai_confirmation",
        subject="Re:   {{ workspace.name }}",
        body_text="{{ workspace.name }}: {{ ai.answer }}",
        body_html="<h1>{{ workspace.name }}</h1>{{ ai.answer }}",
        workspace_name="Tom & <Jerry>",
        base_url="https://help.example/",
    )
    assert preview.subject == "Re: Tom & <Jerry>"
    assert preview.body_text.startswith("Tom & <Jerry>: Open Settings")
    assert preview.body_html == (
        "<h1>Tom &amp; &lt;Jerry&gt;</h1>"
        "<p>Open Settings, choose Security and press Reset password.</p>"
    )
    assert preview.unknown == []
