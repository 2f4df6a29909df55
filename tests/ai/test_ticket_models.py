"""Default ticket type/priority models (trained once, cached in memory and on disk under a file
lock), workspace overrides and categories per workspace, and the stored JSON shape."""

from __future__ import annotations

import dataclasses
import fcntl
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from deskpilot.ai import classifiers, ticket_models
from deskpilot.ai.embeddings import default_embedder
from deskpilot.ai.models import AiClassifier
from deskpilot.ai.ports import Embedder
from deskpilot.ai.ticket_models import (
    DefaultTicketModels,
    TicketExample,
    artifact_key,
    as_json,
    classify_ticket,
    default_ticket_models,
    load_examples,
)
from deskpilot.settings import Settings
from deskpilot.tickets.lifecycle import Priority, TicketType
from tests.factories import Personas
from tests.fakes import HashingEmbedder

HELDOUT = Path(__file__).parent / "data" / "heldout_tickets.csv"


@pytest.fixture(scope="module")
def trained() -> DefaultTicketModels:
    """The defaults trained once with the hashing fake; tests that count training hand these
    out from a stand-in trainer instead of spending seconds training again."""
    return ticket_models.train_defaults(HashingEmbedder(), load_examples())


@pytest.fixture(autouse=True)
def _empty_memory() -> Iterator[None]:
    ticket_models.forget()
    yield
    ticket_models.forget()


@dataclasses.dataclass
class Trainer:
    calls: int = 0


@pytest.fixture
def trainer(monkeypatch: pytest.MonkeyPatch, trained: DefaultTicketModels) -> Trainer:
    counter = Trainer()

    def fake_train(
        embedder: Embedder, examples: Sequence[TicketExample], key: str = ""
    ) -> DefaultTicketModels:
        counter.calls += 1
        assert embedder.name == trained.embedding_model
        assert len(examples) == trained.metrics["examples"]
        return dataclasses.replace(trained, key=key)

    monkeypatch.setattr(ticket_models, "train_defaults", fake_train)
    return counter


def default_dir(settings: Settings) -> Path:
    return settings.data_dir / "models" / "default"


def test_examples_cover_every_type_and_priority() -> None:
    examples = load_examples()
    types = {t.value: 0 for t in TicketType}
    for example in examples:
        types[example.type] += 1
    assert min(types.values()) >= 35
    assert {e.priority for e in examples} == {p.value for p in Priority}
    heldout = load_examples(HELDOUT)
    assert not {e.text for e in heldout} & {e.text for e in examples}


def test_first_use_trains_once_and_writes_the_artifacts(
    settings: Settings, app: object, trainer: Trainer
) -> None:
    first = default_ticket_models()
    second = default_ticket_models()

    assert second is first
    assert trainer.calls == 1
    key = artifact_key("tests-hashing")
    assert first.key == key
    assert first.model_name == f"default@{key}"
    artifacts = default_dir(settings) / key
    assert sorted(p.name for p in artifacts.iterdir()) == [
        "manifest.json",
        "priority.pkl",
        "type.pkl",
    ]
    assert (default_dir(settings) / f"{key}.lock").is_file()
    assert not list(default_dir(settings).glob(".*.tmp"))


def test_a_fresh_process_loads_the_artifacts_instead_of_retraining(
    settings: Settings, app: object, trainer: Trainer, trained: DefaultTicketModels
) -> None:
    default_ticket_models()
    ticket_models.forget()  # as if the process restarted

    loaded = default_ticket_models()

    assert trainer.calls == 1
    texts = ["Please cancel my plan", "The site is down for everyone", "Invoice has wrong VAT"]
    embedder = HashingEmbedder()
    assert loaded.type.predict(texts, embedder) == trained.type.predict(texts, embedder)
    assert loaded.priority.predict(texts, embedder) == trained.priority.predict(texts, embedder)


def test_unreadable_artifacts_are_trained_again(
    settings: Settings, app: object, trainer: Trainer
) -> None:
    models = default_ticket_models()
    (default_dir(settings) / models.key / "type.pkl").write_bytes(b"not a pickle")
    ticket_models.forget()

    default_ticket_models()

    assert trainer.calls == 2


def test_the_key_changes_with_the_examples_and_the_embedder(tmp_path: Path) -> None:
    changed = tmp_path / "examples.csv"
    changed.write_text(ticket_models.EXAMPLES_FILE.read_text() + '"one more",other,low\n')

    key = artifact_key("tests-hashing")
    assert artifact_key("tests-hashing") == key
    assert artifact_key("all-MiniLM-L6-v2") != key
    assert artifact_key("tests-hashing", changed) != key


def test_a_process_waiting_for_the_lock_uses_what_the_other_one_trained(
    settings: Settings,
    app: object,
    trainer: Trainer,
    trained: DefaultTicketModels,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = artifact_key("tests-hashing")
    root = default_dir(settings)
    root.mkdir(parents=True)
    waiting = threading.Event()
    real_acquire = ticket_models._acquire

    def acquire(fh: object) -> None:
        waiting.set()
        real_acquire(fh)  # type: ignore[arg-type]

    monkeypatch.setattr(ticket_models, "_acquire", acquire)
    result: list[DefaultTicketModels] = []
    with (root / f"{key}.lock").open("a") as other_process:
        fcntl.flock(other_process, fcntl.LOCK_EX)
        waiter = threading.Thread(target=lambda: result.append(default_ticket_models()))
        waiter.start()
        assert waiting.wait(timeout=60)
        # The other process finishes training while holding the lock.
        ticket_models._save(dataclasses.replace(trained, key=key), root / key)
        fcntl.flock(other_process, fcntl.LOCK_UN)
    waiter.join(timeout=60)

    assert not waiter.is_alive()
    assert trainer.calls == 0
    assert result[0].key == key


def train_workspace(
    session: Session, personas: Personas, name: str, rows: dict[str, list[str]]
) -> AiClassifier:
    examples = [classifiers.Example(text, label) for label, texts in rows.items() for text in texts]
    row, _ = classifiers.train(session, personas.acme_admin.ctx, name, examples)
    session.flush()
    return row


def test_defaults_give_type_and_priority_with_probabilities_and_no_category(
    session: Session, personas: Personas, trainer: Trainer
) -> None:
    result = classify_ticket(
        session,
        personas.ann.ctx,
        "Please cancel my subscription",
        "Cancel at the end of the current billing period, thanks.",
    )

    assert result.type.label == "cancellation"
    assert set(result.type.probabilities) == {t.value for t in TicketType}
    assert set(result.priority.probabilities) == {p.value for p in Priority}
    assert sum(result.type.probabilities.values()) == pytest.approx(1, abs=1e-4)
    assert result.type.confidence == pytest.approx(max(result.type.probabilities.values()))
    assert not result.type.out_of_scope
    assert not result.priority.out_of_scope
    # The defaults never reject, however unlike the examples a ticket is.
    odd = classify_ticket(session, personas.ann.ctx, "zzqx", "qwpoe lkjh mnbv")
    assert not odd.type.out_of_scope
    assert not odd.priority.out_of_scope
    assert result.category is None
    key = artifact_key("tests-hashing")
    assert result.models == {"type": f"default@{key}", "priority": f"default@{key}"}


def test_a_workspace_type_classifier_overrides_the_default_in_that_workspace_only(
    session: Session, personas: Personas, trainer: Trainer
) -> None:
    train_workspace(
        session,
        personas,
        "type",
        {
            "billing": ["refund my payment", "invoice is wrong", "charged twice", "vat receipt"],
            "bug": ["page crashes", "error 500 on save", "button broken", "export fails"],
        },
    )

    acme = classify_ticket(session, personas.ann.ctx, "Cancel please", "charged twice, refund")
    globex = classify_ticket(session, personas.gina.ctx, "Cancel please", "charged twice, refund")

    assert acme.models["type"] == "workspace:type v1"
    assert set(acme.type.probabilities) == {"billing", "bug"}
    assert acme.type.label == "billing"
    assert acme.models["priority"].startswith("default@")
    assert globex.models["type"].startswith("default@")
    assert set(globex.type.probabilities) == {t.value for t in TicketType}


def test_a_workspace_type_classifier_with_foreign_labels_is_not_used(
    session: Session, personas: Personas, trainer: Trainer
) -> None:
    train_workspace(
        session,
        personas,
        "type",
        {
            "sales": ["we want to buy more seats", "pricing for more seats"],
            "support": ["help me fix this error", "please fix this error"],
        },
    )

    result = classify_ticket(session, personas.ann.ctx, "help", "fix my thing")

    assert result.models["type"].startswith("default@")
    assert result.type.label in {t.value for t in TicketType}


def test_category_comes_from_the_workspace_classifier_and_may_be_out_of_scope(
    session: Session, personas: Personas, trainer: Trainer
) -> None:
    train_workspace(
        session,
        personas,
        "category",
        {
            "login": ["cannot log in", "password reset", "locked out of login", "sign in fails"],
            "shipping": ["parcel late", "tracking number", "courier lost box", "delivery date"],
            "oos": ["recipe for banana bread", "weather tomorrow", "tell me a joke", "football"],
        },
    )

    known = classify_ticket(session, personas.ann.ctx, "Password reset", "cannot log in")
    unknown = classify_ticket(session, personas.ann.ctx, "Banana bread", "recipe tell me a joke")
    globex = classify_ticket(session, personas.gina.ctx, "Password reset", "cannot log in")

    assert known.category is not None
    assert (known.category.label, known.category.out_of_scope) == ("login", False)
    assert known.models["category"] == "workspace:category v1"
    assert unknown.category is not None
    assert unknown.category.out_of_scope
    assert globex.category is None
    assert "category" not in globex.models


def test_as_json_is_what_the_ticket_stores(
    session: Session, personas: Personas, trainer: Trainer
) -> None:
    result = classify_ticket(session, personas.ann.ctx, "Site down", "500 errors everywhere")

    stored = as_json(result)

    assert set(stored) == {"type", "priority", "category"}
    assert stored["category"] is None
    for name, prediction in (("type", result.type), ("priority", result.priority)):
        assert stored[name] == {
            "label": prediction.label,
            "confidence": prediction.confidence,
            "out_of_scope": False,
            "model": result.models[name],
        }


@pytest.mark.real_embedder
def test_the_real_defaults_label_obvious_tickets(
    session: Session, personas: Personas, settings: Settings
) -> None:
    assert default_embedder().name == "all-MiniLM-L6-v2"
    cases = [
        ("Site down", "Our whole site is down, customers can't log in.", "bug", "urgent"),
        ("Cancel", "Please cancel our subscription, we switched providers.", "cancellation", None),
        ("Charged twice", "You charged us twice for the annual plan, refund one.", "billing", None),
        (
            "Idea",
            "It would be awesome to have a focus mode that hides the sidebar.",
            "feature_request",
            "low",
        ),
        ("2FA", "I got a new phone and can't receive my 2FA codes, please reset.", "account", None),
        ("Thanks", "Thanks a lot for the quick help last week!", "other", "low"),
    ]
    for subject, body, expected_type, expected_priority in cases:
        result = classify_ticket(session, personas.ann.ctx, subject, body)
        assert result.type.label == expected_type, (body, result.type)
        if expected_priority is not None:
            assert result.priority.label == expected_priority, (body, result.priority)
    assert (default_dir(settings) / artifact_key("all-MiniLM-L6-v2") / "type.pkl").is_file()
