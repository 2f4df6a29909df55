"""GET/PUT /api/v1/ai/policy: status codes, permissions, validation details, tenancy."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from deskpilot.triage.policy import DecisionPolicy
from tests.factories import Personas

URL = "/api/v1/ai/policy"
DEFAULTS = DecisionPolicy().model_dump(mode="json")


def _fields(body: dict[str, Any]) -> list[str]:
    return [d["field"] for d in body["error"]["details"]]


def test_staff_read_the_defaults(client: TestClient, personas: Personas) -> None:
    r = client.get(URL, headers=personas.ann.headers)
    assert r.status_code == 200, r.text
    assert r.json() == DEFAULTS


def test_admin_replaces_and_staff_see_it(client: TestClient, personas: Personas) -> None:
    body = {
        "resolve_threshold": 0.9,
        "confirm_threshold": 0.75,
        "human_categories": ["Refund", "Data deletion"],
        "category_teams": {"refund": personas.teams["acme_billing"]},
    }
    r = client.put(URL, json=body, headers=personas.acme_admin.headers)
    assert r.status_code == 200, r.text
    saved = r.json()
    assert saved["human_categories"] == ["refund", "data_deletion"]
    assert saved["max_ai_turns"] == 3  # omitted: the default
    assert client.get(URL, headers=personas.bob.headers).json() == saved
    # The owner may too; an empty body restores every default.
    r = client.put(URL, json={}, headers=personas.acme_owner.headers)
    assert r.status_code == 200
    assert client.get(URL, headers=personas.ann.headers).json() == DEFAULTS


def test_permissions(client: TestClient, personas: Personas) -> None:
    assert client.get(URL).status_code == 401
    assert client.get(URL, headers=personas.carol.headers).status_code == 403
    for who in (personas.ann, personas.carol):
        r = client.put(URL, json={"max_ai_turns": 9}, headers=who.headers)
        assert r.status_code == 403, who.key
        assert r.json()["error"]["code"] == "forbidden"
    assert client.get(URL, headers=personas.ann.headers).json()["max_ai_turns"] == 3


def test_invalid_policies_are_422_with_field_details(
    client: TestClient, personas: Personas
) -> None:
    headers = personas.acme_admin.headers
    cases = [
        ({"resolve_threshold": 0.6, "confirm_threshold": 0.7}, ["confirm_threshold"]),
        ({"negative_sentiment_threshold": 2}, ["negative_sentiment_threshold"]),
        ({"max_low_confidence_replies": 0}, ["max_low_confidence_replies"]),
        ({"escalate_impacts": ["meh"]}, ["escalate_impacts.0"]),
        ({"turbo": True}, ["turbo"]),
    ]
    for body, fields in cases:
        r = client.put(URL, json=body, headers=headers)
        assert r.status_code == 422, body
        assert r.json()["error"]["code"] == "validation_error"
        assert _fields(r.json()) == fields, body


def test_teams_of_another_workspace_are_rejected(client: TestClient, personas: Personas) -> None:
    foreign = personas.teams["globex_support"]
    r = client.put(URL, json={"default_team_id": foreign}, headers=personas.acme_admin.headers)
    assert r.status_code == 422
    assert _fields(r.json()) == ["default_team_id"]
    r = client.put(
        URL,
        json={"category_teams": {"refund": foreign}},
        headers=personas.acme_admin.headers,
    )
    assert _fields(r.json()) == ["category_teams.refund"]
    assert client.get(URL, headers=personas.ann.headers).json() == DEFAULTS


def test_each_workspace_has_its_own_policy(client: TestClient, personas: Personas) -> None:
    r = client.put(URL, json={"max_ai_turns": 8}, headers=personas.acme_admin.headers)
    assert r.status_code == 200
    assert client.get(URL, headers=personas.gina.headers).json() == DEFAULTS
    r = client.put(
        URL,
        json={"default_team_id": personas.teams["globex_support"]},
        headers=personas.globex_owner.headers,
    )
    assert r.status_code == 200
    assert client.get(URL, headers=personas.ann.headers).json()["default_team_id"] is None
    assert client.get(URL, headers=personas.ann.headers).json()["max_ai_turns"] == 8
