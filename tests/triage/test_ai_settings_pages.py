"""The AI admin page (/admin/ai): provider settings, decision policy and the test box."""

from __future__ import annotations

import html as html_module
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from deskpilot.db.engine import Database
from deskpilot.llm import service as llm_service
from deskpilot.triage import policy as policy_service
from deskpilot.triage.models import AiDecision
from tests.factories import Persona, Personas
from tests.pages import HTMX, sign_in
from tests.triage.conftest import ALWAYS_RESOLVE, set_policy

RAW_KEY = "sk-ant-api03-" + "Abc123" * 8


def _settings(db: Database, persona: Persona) -> llm_service.ProviderSettings:
    with db.session(write=False) as s:
        return llm_service.get_settings(s, persona.ctx)


def _policy(db: Database, persona: Persona) -> policy_service.DecisionPolicy:
    with db.session(write=False) as s:
        return policy_service.get_policy(s, persona.ctx)


def _field_error(html: str, field: str) -> str:
    match = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>', html)
    assert match, f"no error shown for {field}"
    return html_module.unescape(match.group(1))


SETTINGS_FORM = {
    "provider": "builtin",
    "model": "",
    "api_key_ref": "",
    "base_url": "",
    "temperature": "0.2",
    "max_output_tokens": "600",
    "monthly_token_budget": "",
    "fallback": "builtin",
}


def _policy_form(**changes: Any) -> dict[str, Any]:
    """The form as the page renders it for the default policy, with `changes` applied."""
    form: dict[str, Any] = {
        "auto_reply_enabled": "1",
        "resolve_threshold": "0.85",
        "confirm_threshold": "0.7",
        "clarify_enabled": "1",
        "max_clarifications": "1",
        "clarify_margin": "0.5",
        "human_categories": "billing_change\nrefund\ncancellation\nlegal",
        "human_types": ["billing", "cancellation"],
        "escalate_priorities": ["urgent"],
        "escalate_impacts": ["site_down"],
        "negative_sentiment_threshold": "0.75",
        "max_ai_turns": "3",
        "max_low_confidence_replies": "2",
        "category_teams": "",
        "default_team_id": "",
    }
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


# --- access --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("who", "status"), [("ann", 403), ("carol", 403), ("acme_owner", 200)])
def test_the_ai_page_is_for_admins(
    client: TestClient, personas: Personas, who: str, status: int
) -> None:
    sign_in(client, getattr(personas, who))
    assert client.get("/admin/ai").status_code == status


def test_anonymous_visitors_are_sent_to_sign_in(client: TestClient, personas: Personas) -> None:
    r = client.get("/admin/ai", follow_redirects=False)
    assert r.headers["location"].startswith("/login?next=/admin/ai")


def test_the_page_shows_current_settings_policy_and_usage(
    client: TestClient, personas: Personas
) -> None:
    sign_in(client, personas.acme_admin)
    html = client.get("/admin/ai").text
    assert '<option value="builtin" selected>Built-in (offline, free)</option>' in html
    assert 'name="resolve_threshold" type="number" value="0.85"' in html
    assert 'name="human_types" value="billing" checked' in html
    assert 'name="human_types" value="bug">' in html
    assert "refund" in html
    assert "Usage this month" in html
    assert f'<option value="{personas.teams["acme_billing"]}" >Billing</option>' in html
    assert f'<option value="{personas.teams["globex_support"]}"' not in html


# --- provider settings ---------------------------------------------------------------------------


def test_save_an_openai_compatible_provider(
    client: TestClient, personas: Personas, db: Database
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    form = {
        **SETTINGS_FORM,
        "csrf_token": csrf,
        "provider": "openai",
        "model": "llama3.2:3b",
        "base_url": "http://localhost:11434/v1",
        "temperature": "0.5",
        "monthly_token_budget": "100000",
    }
    r = client.post("/admin/ai/settings", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    saved = _settings(db, personas.acme_admin)
    assert (saved.provider, saved.model, saved.base_url) == (
        "openai",
        "llama3.2:3b",
        "http://localhost:11434/v1",
    )
    assert (saved.temperature, saved.monthly_token_budget) == (0.5, 100_000)
    assert _settings(db, personas.gina).provider == "builtin"
    page = client.get("/admin/ai").text
    assert "AI provider settings saved." in page
    assert "of 100,000" in page


def test_a_key_reference_is_shown_with_whether_the_server_has_it(
    client: TestClient, personas: Personas, monkeypatch: pytest.MonkeyPatch
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    form = {**SETTINGS_FORM, "csrf_token": csrf, "provider": "anthropic",
            "model": "claude-sonnet-4-5", "api_key_ref": "env:DESKPILOT_TEST_KEY"}  # fmt: skip
    assert client.post("/admin/ai/settings", data=form, follow_redirects=False).status_code == 303
    monkeypatch.delenv("DESKPILOT_TEST_KEY", raising=False)
    assert "Key missing" in client.get("/admin/ai").text
    monkeypatch.setenv("DESKPILOT_TEST_KEY", "secret-value-123")
    html = client.get("/admin/ai").text
    assert "Key found" in html
    assert 'value="env:DESKPILOT_TEST_KEY"' in html
    assert "secret-value-123" not in html


def test_a_pasted_raw_key_is_refused_and_never_echoed(
    client: TestClient, personas: Personas, db: Database
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    form = {**SETTINGS_FORM, "csrf_token": csrf, "provider": "anthropic",
            "model": "claude-sonnet-4-5", "api_key_ref": RAW_KEY}  # fmt: skip
    r = client.post("/admin/ai/settings", data=form)
    assert r.status_code == 422
    assert "looks like an API key" in _field_error(r.text, "api_key_ref")
    assert RAW_KEY not in r.text
    assert RAW_KEY[:20] not in r.text
    saved = _settings(db, personas.acme_admin)
    assert (saved.provider, saved.api_key_ref, saved.updated_at) == ("builtin", None, None)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"temperature": "5"}, "temperature", "less than or equal to 2"),
        ({"temperature": "warm"}, "temperature", "valid number"),
        ({"provider": "anthropic", "model": "claude"}, "api_key_ref", "required for provider"),
        ({"provider": "openai"}, "model", "required for provider openai"),
        ({"base_url": "ftp://example.com"}, "base_url", "an http(s) URL"),
        ({"monthly_token_budget": "0"}, "monthly_token_budget", "greater than or equal to 1"),
    ],
)
def test_invalid_settings_are_shown_next_to_the_field(
    client: TestClient,
    personas: Personas,
    db: Database,
    changes: dict[str, str],
    field: str,
    message: str,
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    r = client.post("/admin/ai/settings", data={**SETTINGS_FORM, "csrf_token": csrf, **changes})
    assert r.status_code == 422
    assert message in _field_error(r.text, field)
    # The refused change left nothing behind, not even an empty settings row.
    assert _settings(db, personas.acme_admin).updated_at is None


def test_settings_posts_need_csrf_and_an_admin(
    client: TestClient, personas: Personas, db: Database
) -> None:
    sign_in(client, personas.acme_admin)
    form = {**SETTINGS_FORM, "provider": "openai", "model": "m", "base_url": "http://x.test/v1"}
    assert client.post("/admin/ai/settings", data=form).status_code == 403
    csrf = sign_in(client, personas.ann)
    assert client.post("/admin/ai/settings", data={**form, "csrf_token": csrf}).status_code == 403
    assert _settings(db, personas.acme_admin).provider == "builtin"


# --- decision policy -----------------------------------------------------------------------------


def test_save_the_policy(client: TestClient, personas: Personas, db: Database) -> None:
    csrf = sign_in(client, personas.acme_admin)
    billing = personas.teams["acme_billing"]
    form = _policy_form(
        csrf_token=csrf,
        auto_reply_enabled=None,
        resolve_threshold="0.9",
        human_categories="refund, Legal stuff",
        human_types=["cancellation"],
        escalate_priorities=["urgent", "high"],
        negative_sentiment_threshold="",
        category_teams="billing change: billing",
        default_team_id=str(personas.teams["acme_support"]),
    )
    r = client.post("/admin/ai/policy", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    policy = _policy(db, personas.acme_admin)
    assert policy.auto_reply_enabled is False
    assert policy.resolve_threshold == 0.9
    assert policy.human_categories == ["refund", "legal_stuff"]
    assert policy.human_types == ["cancellation"]
    assert policy.escalate_priorities == ["urgent", "high"]
    assert policy.negative_sentiment_threshold is None
    assert policy.category_teams == {"billing_change": billing}
    assert policy.default_team_id == personas.teams["acme_support"]
    html = client.get("/admin/ai").text
    assert "AI decision policy saved." in html
    assert "billing_change: Billing" in html
    assert 'name="auto_reply_enabled" type="checkbox" value="1" >' in html
    assert _policy(db, personas.gina).resolve_threshold == 0.85


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"confirm_threshold": "0.95"}, "confirm_threshold", "must not be above resolve"),
        ({"resolve_threshold": "1.5"}, "resolve_threshold", "less than or equal to 1"),
        ({"max_ai_turns": ""}, "max_ai_turns", "valid integer"),
        ({"category_teams": "billing: Nobody"}, "category_teams", "no team named"),
        ({"category_teams": "just words"}, "category_teams", "one 'category: team' per line"),
        ({"human_categories": "!!!"}, "human_categories", "must contain a letter or digit"),
    ],
)
def test_invalid_policy_values_are_shown_next_to_the_field(
    client: TestClient,
    personas: Personas,
    db: Database,
    changes: dict[str, str],
    field: str,
    message: str,
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    r = client.post("/admin/ai/policy", data=_policy_form(csrf_token=csrf, **changes))
    assert r.status_code == 422
    assert message in _field_error(r.text, field)
    # The form keeps what was typed.
    for name, value in changes.items():
        assert value.replace("'", "&#39;") in r.text, name
    assert _policy(db, personas.acme_admin) == policy_service.DecisionPolicy()


def test_another_workspaces_team_cannot_receive_escalations(
    client: TestClient, personas: Personas, db: Database
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    globex_team = str(personas.teams["globex_support"])
    r = client.post(
        "/admin/ai/policy", data=_policy_form(csrf_token=csrf, default_team_id=globex_team)
    )
    assert r.status_code == 422
    assert _field_error(r.text, "default_team_id") == "no team with this id"
    r = client.post(
        "/admin/ai/policy",
        data=_policy_form(csrf_token=csrf, category_teams=f"refund: {globex_team}"),
    )
    assert r.status_code == 422
    assert _field_error(r.text, "category_teams") == "no team with this id"
    assert _policy(db, personas.acme_admin).default_team_id is None


def test_policy_posts_need_csrf(client: TestClient, personas: Personas, db: Database) -> None:
    sign_in(client, personas.acme_admin)
    r = client.post("/admin/ai/policy", data=_policy_form(resolve_threshold="0.99"))
    assert r.status_code == 403
    assert _policy(db, personas.acme_admin).resolve_threshold == 0.85


# --- the test box --------------------------------------------------------------------------------


@pytest.mark.usefixtures("acme_help")
def test_the_test_box_answers_in_place_with_htmx(
    client: TestClient, personas: Personas, db: Database
) -> None:
    set_policy(db, personas.acme_admin, **ALWAYS_RESOLVE)
    csrf = sign_in(client, personas.acme_admin)
    r = client.post(
        "/admin/ai/test",
        data={"csrf_token": csrf, "question": "How do I reset my password?"},
        headers=HTMX,
    )
    assert r.status_code == 200
    html = r.text
    assert html.lstrip().startswith('<section id="ai-test"')
    assert "<html" not in html
    assert 'class="badge badge-decision-resolve">Resolve</span>' in html
    assert re.search(r"Confidence <strong>\d+%</strong>", html)
    assert "Forgot password" in html
    assert "<li>Reset your password" in html
    assert '<ul class="reasons"><li>' in html
    assert "How do I reset my password?" in html
    with db.session(write=False) as s:
        decisions = s.scalars(select(AiDecision).order_by(AiDecision.id)).all()
        assert [(d.source, d.workspace_id) for d in decisions] == [
            ("dry_run", personas.acme_admin.workspace_id)
        ]


@pytest.mark.usefixtures("acme_help")
def test_the_test_box_works_without_javascript(client: TestClient, personas: Personas) -> None:
    csrf = sign_in(client, personas.acme_owner)
    r = client.post(
        "/admin/ai/test", data={"csrf_token": csrf, "question": "Where are my invoices?"}
    )
    assert r.status_code == 200
    assert "<html" in r.text
    assert 'aria-label="Admin sections"' in r.text
    assert "Download your invoices" in r.text


def test_a_blank_question_is_refused_next_to_the_field(
    client: TestClient, personas: Personas, db: Database
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    r = client.post("/admin/ai/test", data={"csrf_token": csrf, "question": "   "})
    assert r.status_code == 422
    assert _field_error(r.text, "question") == "must not be blank"
    # htmx is configured to swap 422, so the fragment keeps the honest status.
    r = client.post("/admin/ai/test", data={"csrf_token": csrf, "question": ""}, headers=HTMX)
    assert r.status_code == 422
    assert r.text.lstrip().startswith('<section id="ai-test"')
    assert _field_error(r.text, "question") == "must not be blank"
    with db.session(write=False) as s:
        assert s.scalars(select(AiDecision)).all() == []


def test_the_test_box_needs_csrf_and_an_admin(client: TestClient, personas: Personas) -> None:
    sign_in(client, personas.acme_admin)
    assert client.post("/admin/ai/test", data={"question": "hi"}, headers=HTMX).status_code == 403
    csrf = sign_in(client, personas.carol)
    r = client.post("/admin/ai/test", data={"csrf_token": csrf, "question": "hi"})
    assert r.status_code == 403


@pytest.mark.usefixtures("acme_help")
def test_the_test_box_never_cites_another_workspaces_articles(
    client: TestClient, personas: Personas
) -> None:
    csrf = sign_in(client, personas.globex_owner)
    r = client.post(
        "/admin/ai/test",
        data={"csrf_token": csrf, "question": "How do I reset my password?"},
        headers=HTMX,
    )
    assert r.status_code == 200
    assert "Reset your password" not in r.text
    assert "Forgot password" not in r.text
    assert "Sources" not in r.text
