"""Settings and usage routes: who may read and change them, validation, workspace isolation."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from deskpilot.db.engine import Database
from deskpilot.llm import service
from tests.factories import Personas
from tests.llm.recorded import password_request

SETTINGS = "/api/v1/ai/settings"
USAGE = "/api/v1/ai/usage"
KEY_ENV = "DESKPILOT_TEST_OPENAI_KEY"
ANTHROPIC = {
    "provider": "anthropic",
    "model": "claude-sonnet-4-6",
    "api_key_ref": "env:DESKPILOT_TEST_ANTHROPIC_KEY",
    "monthly_token_budget": 2_000_000,
}


def error_fields(r: Any) -> list[str]:
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_error"
    return [d["field"] for d in r.json()["error"]["details"]]


def test_defaults_are_the_offline_builtin(client: TestClient, personas: Personas) -> None:
    r = client.get(SETTINGS, headers=personas.ann.headers)

    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["provider"], body["fallback"], body["api_key_ref"]) == ("builtin", "builtin", None)
    assert body["api_key_present"] is False
    assert body["updated_at"] is None


def test_admin_sets_a_provider_and_staff_read_it_without_the_key(
    client: TestClient, personas: Personas, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESKPILOT_TEST_ANTHROPIC_KEY", "sk-ant-api03-very-secret-value")

    r = client.put(SETTINGS, json=ANTHROPIC, headers=personas.acme_admin.headers)

    assert r.status_code == 200, r.text
    assert r.json()["api_key_present"] is True
    read = client.get(SETTINGS, headers=personas.bob.headers)
    assert read.status_code == 200
    assert {k: read.json()[k] for k in ANTHROPIC} == ANTHROPIC
    assert "very-secret" not in read.text
    # A partial update keeps the rest.
    r = client.put(SETTINGS, json={"temperature": 0.5}, headers=personas.acme_owner.headers)
    assert (r.json()["temperature"], r.json()["model"]) == (0.5, "claude-sonnet-4-6")


def test_agents_and_customers_cannot_change_settings(
    client: TestClient, personas: Personas
) -> None:
    r = client.put(SETTINGS, json={"temperature": 1.0}, headers=personas.ann.headers)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden")
    for route in (SETTINGS, USAGE):
        assert client.get(route, headers=personas.carol.headers).status_code == 403


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"provider": "gemini"}, ["provider"]),
        ({"temperature": 2.5}, ["temperature"]),
        ({"max_output_tokens": 8}, ["max_output_tokens"]),
        ({"max_output_tokens": 9000}, ["max_output_tokens"]),
        ({"timeout_seconds": 0.5}, ["timeout_seconds"]),
        ({"max_retries": 6}, ["max_retries"]),
        ({"fallback": "silence"}, ["fallback"]),
        ({"input_price_per_mtok": -1}, ["input_price_per_mtok"]),
        ({"monthly_token_budget": 0}, ["monthly_token_budget"]),
        ({"base_url": "ftp://models.example.com"}, ["base_url"]),
        ({"base_url": "http://user:pw@localhost:11434/v1"}, ["base_url"]),
        ({"provider": "anthropic", "api_key_ref": "env:X"}, ["model"]),
        ({"provider": "anthropic", "model": "claude-sonnet-4-6"}, ["api_key_ref"]),
        ({"api_key_ref": "ANTHROPIC_API_KEY"}, ["api_key_ref"]),
        ({"api_key": "sk-ant-api03-abc"}, ["api_key"]),
    ],
)
def test_bad_values_are_422_with_the_field(
    client: TestClient, personas: Personas, body: dict[str, Any], fields: list[str]
) -> None:
    r = client.put(SETTINGS, json=body, headers=personas.acme_owner.headers)

    assert error_fields(r) == fields
    assert client.get(SETTINGS, headers=personas.acme_owner.headers).json()["provider"] == "builtin"


@pytest.mark.parametrize(
    "ref",
    [
        "sk-ant-api03-R2D2C3POabcdefghijklmnopqrstuvwxyz0123456789",
        "env:sk_live_51HxYzAbCdEfGhIjKlMnOpQrStUv",
        "env:AKIA1234567890ABCDEFGHIJKLMNOPQRSTUV",
        "sk-proj-abc123",
    ],
)
def test_raw_keys_are_refused_and_never_echoed(
    client: TestClient, personas: Personas, ref: str
) -> None:
    r = client.put(
        SETTINGS, json={**ANTHROPIC, "api_key_ref": ref}, headers=personas.acme_owner.headers
    )

    assert error_fields(r) == ["api_key_ref"]
    assert "looks like an API key" in r.json()["error"]["details"][0]["message"]
    assert ref not in r.text


def test_changing_provider_needs_the_model_named(client: TestClient, personas: Personas) -> None:
    owner = personas.acme_owner.headers
    assert client.put(SETTINGS, json=ANTHROPIC, headers=owner).status_code == 200

    r = client.put(
        SETTINGS,
        json={"provider": "openai", "base_url": "http://localhost:11434/v1"},
        headers=owner,
    )

    assert error_fields(r) == ["model"]


def test_another_workspace_never_sees_the_settings_or_usage(
    client: TestClient, personas: Personas, db: Database
) -> None:
    acme_owner = personas.acme_owner.headers
    assert client.put(SETTINGS, json=ANTHROPIC, headers=acme_owner).status_code == 200
    with db.session(write=True) as s:
        service.compose_answer(s, personas.acme_owner.ctx, password_request())  # no key: fallback
        s.commit()

    for intruder in (personas.globex_owner, personas.gina):
        settings = client.get(SETTINGS, headers=intruder.headers).json()
        assert settings["provider"] == "builtin"
        assert "DESKPILOT_TEST_ANTHROPIC_KEY" not in str(settings)
        usage = client.get(USAGE, headers=intruder.headers).json()
        assert (usage["totals"]["calls"], usage["items"], usage["monthly_token_budget"]) == (
            0,
            [],
            None,
        )
    r = client.put(SETTINGS, json={"temperature": 1.5}, headers=personas.globex_owner.headers)
    assert r.status_code == 200
    assert client.get(SETTINGS, headers=acme_owner).json()["temperature"] == 0.2


def test_usage_report_by_day_and_by_model(
    client: TestClient, personas: Personas, db: Database
) -> None:
    owner = personas.acme_owner
    with db.session(write=True) as s:
        for _ in range(2):
            service.compose_answer(s, owner.ctx, password_request())
        service.update_settings(s, owner.ctx, ANTHROPIC)  # no key in the environment
        service.compose_answer(s, owner.ctx, password_request())
        s.commit()

    by_day = client.get(USAGE, headers=personas.ann.headers)
    by_model = client.get(USAGE, params={"group_by": "model"}, headers=personas.ann.headers)

    assert by_day.status_code == 200, by_day.text
    [day] = by_day.json()["items"]
    assert len(day["key"]) == 10
    assert (day["calls"], day["fallbacks"]) == (3, 1)
    assert by_day.json()["monthly_token_budget"] == 2_000_000
    models = {item["key"]: item["calls"] for item in by_model.json()["items"]}
    assert models == {"builtin/extractive-v1": 2, "anthropic/claude-sonnet-4-6": 1}


def test_usage_range_is_validated(client: TestClient, personas: Personas) -> None:
    headers = personas.ann.headers
    r = client.get(
        USAGE,
        params={"since": "2031-02-01T00:00:00Z", "until": "2031-01-01T00:00:00Z"},
        headers=headers,
    )
    assert error_fields(r) == ["since"]
    assert error_fields(client.get(USAGE, params={"group_by": "week"}, headers=headers)) == [
        "group_by"
    ]
    r = client.get(
        USAGE,
        params={"since": "2031-01-01T00:00:00Z", "until": "2031-02-01T00:00:00Z"},
        headers=headers,
    )
    assert r.status_code == 200
    assert r.json()["totals"]["calls"] == 0
