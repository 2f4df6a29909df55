"""Classifier routes: train versions (admins), list and predict (staff), workspace isolation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from deskpilot.settings import Settings
from tests.ai.test_classifier import OUT_OF_SCOPE, examples
from tests.factories import Persona, Personas

CLASSIFIERS = "/api/v1/ai/classifiers"


def training_body(name: str = "tickets", *, with_oos: bool = True) -> dict[str, Any]:
    texts, labels = examples()
    if with_oos:
        texts += OUT_OF_SCOPE
        labels += ["oos"] * len(OUT_OF_SCOPE)
    return {
        "name": name,
        "examples": [{"text": t, "label": lab} for t, lab in zip(texts, labels, strict=True)],
    }


def train(client: TestClient, persona: Persona, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post(CLASSIFIERS, json=body, headers=persona.headers)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


def error_fields(r: Any) -> list[str]:
    assert r.status_code == 422, r.text
    return [d["field"] for d in r.json()["error"]["details"]]


def test_admin_trains_versions_and_staff_lists_them(
    client: TestClient, personas: Personas, settings: Settings
) -> None:
    first = train(client, personas.acme_admin, training_body())
    second = train(client, personas.acme_owner, training_body(with_oos=False))

    assert (first["name"], first["version"], second["version"]) == ("tickets", 1, 2)
    assert first["labels"] == ["password", "refund", "shipping"]
    assert first["embedding_model"] == "tests-hashing"
    assert first["metrics"]["oos_examples"] == len(OUT_OF_SCOPE)
    assert 0 < first["threshold"] < 1
    workspace_id = personas.acme_admin.ctx.workspace_id
    artifacts = settings.data_dir / "models" / "classifiers" / f"ws{workspace_id}" / "tickets"
    assert sorted(p.name for p in artifacts.iterdir()) == ["v1.pkl", "v2.pkl"]

    r = client.get(CLASSIFIERS, headers=personas.ann.headers)
    assert r.status_code == 200, r.text
    assert [(c["name"], c["version"]) for c in r.json()["items"]] == [
        ("tickets", 2),
        ("tickets", 1),
    ]


def test_predict_labels_texts_in_order_and_flags_out_of_scope(
    client: TestClient, personas: Personas
) -> None:
    train(client, personas.acme_admin, training_body())
    texts = ["where is my parcel, no tracking number", "a recipe for a joke", "charged twice"]

    r = client.post(
        f"{CLASSIFIERS}/tickets/predict", json={"texts": texts}, headers=personas.ann.headers
    )

    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [i["text"] for i in items] == texts
    assert [i["label"] for i in items][0::2] == ["shipping", "refund"]
    assert [i["out_of_scope"] for i in items] == [False, True, False]
    assert all(0 < i["confidence"] <= 1 for i in items)


def test_predict_uses_the_newest_version(client: TestClient, personas: Personas) -> None:
    train(client, personas.acme_admin, training_body())
    newer = training_body()
    for example in newer["examples"]:
        if example["label"] == "refund":
            example["label"] = "billing"
    train(client, personas.acme_admin, newer)

    r = client.post(
        f"{CLASSIFIERS}/tickets/predict",
        json={"texts": ["charged twice, refund"]},
        headers=personas.bob.headers,
    )

    assert r.status_code == 200, r.text
    assert r.json()["items"][0]["label"] == "billing"


def test_roles(client: TestClient, personas: Personas) -> None:
    r = client.post(CLASSIFIERS, json=training_body(), headers=personas.ann.headers)
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "forbidden"
    train(client, personas.acme_admin, training_body())
    carol = personas.carol.headers
    assert client.get(CLASSIFIERS, headers=carol).status_code == 403
    predict = client.post(f"{CLASSIFIERS}/tickets/predict", json={"texts": ["x"]}, headers=carol)
    assert predict.status_code == 403
    assert client.get(CLASSIFIERS).status_code == 401


def test_other_workspaces_see_nothing(client: TestClient, personas: Personas) -> None:
    train(client, personas.acme_admin, training_body())

    listed = client.get(CLASSIFIERS, headers=personas.gina.headers)
    predicted = client.post(
        f"{CLASSIFIERS}/tickets/predict", json={"texts": ["refund"]}, headers=personas.gina.headers
    )

    assert listed.status_code == 200
    assert listed.json()["items"] == []
    assert predicted.status_code == 404, predicted.text
    assert predicted.json()["error"]["code"] == "not_found"


def test_training_data_is_validated(client: TestClient, personas: Personas) -> None:
    admin = personas.acme_admin.headers
    bad_name = training_body("Tickets!")
    assert error_fields(client.post(CLASSIFIERS, json=bad_name, headers=admin)) == ["name"]
    numeric = training_body("123")
    assert error_fields(client.post(CLASSIFIERS, json=numeric, headers=admin)) == ["name"]

    one_label = {"name": "x", "examples": [{"text": f"t{i}", "label": "a"} for i in range(5)]}
    assert error_fields(client.post(CLASSIFIERS, json=one_label, headers=admin)) == ["examples"]

    lonely = training_body()
    lonely["examples"].append({"text": "a single example", "label": "lonely"})
    assert error_fields(client.post(CLASSIFIERS, json=lonely, headers=admin)) == ["examples"]

    blank = training_body()
    blank["examples"][0]["label"] = "   "
    assert client.post(CLASSIFIERS, json=blank, headers=admin).status_code == 422
    assert client.get(CLASSIFIERS, headers=admin).json()["items"] == []


def test_predict_unknown_classifier_or_missing_model_file(
    client: TestClient, personas: Personas, settings: Settings
) -> None:
    ann = personas.ann.headers
    r = client.post(f"{CLASSIFIERS}/nope/predict", json={"texts": ["x"]}, headers=ann)
    assert r.status_code == 404, r.text

    train(client, personas.acme_admin, training_body())
    for path in Path(settings.data_dir / "models" / "classifiers").rglob("*.pkl"):
        path.unlink()
    r = client.post(f"{CLASSIFIERS}/tickets/predict", json={"texts": ["x"]}, headers=ann)
    assert r.status_code == 404, r.text
    assert "retrain" in r.json()["error"]["message"]


def test_get_returns_the_newest_version_and_location_points_to_it(
    client: TestClient, personas: Personas
) -> None:
    r = client.post(CLASSIFIERS, json=training_body(), headers=personas.acme_admin.headers)
    assert r.status_code == 201, r.text
    assert r.headers["location"] == f"{CLASSIFIERS}/tickets"
    train(client, personas.acme_admin, training_body())

    r = client.get(f"{CLASSIFIERS}/tickets", headers=personas.ann.headers)

    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["version"]) == ("tickets", 2)
    assert client.get(f"{CLASSIFIERS}/tickets", headers=personas.gina.headers).status_code == 404


def test_idempotency_key_replays_the_first_version(client: TestClient, personas: Personas) -> None:
    headers = personas.acme_admin.headers | {"Idempotency-Key": "train-1"}
    first = client.post(CLASSIFIERS, json=training_body(), headers=headers)
    again = client.post(CLASSIFIERS, json=training_body(), headers=headers)
    other_body = client.post(CLASSIFIERS, json=training_body(with_oos=False), headers=headers)

    assert first.status_code == 201, first.text
    assert again.status_code == 200, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert other_body.status_code == 409, other_body.text
    listed = client.get(CLASSIFIERS, headers=personas.ann.headers).json()["items"]
    assert [c["version"] for c in listed] == [1]
