"""`deskpilot ai train|predict` and `deskpilot eval intents|oos` on small synthetic files."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from deskpilot.cli import main
from deskpilot.db.engine import Database
from tests.ai.test_classifier import OUT_OF_SCOPE, examples
from tests.conftest import TEST_SECRET
from tests.factories import Personas


@pytest.fixture
def cli_env(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("DESKPILOT_") and not name.startswith("DESKPILOT_TEST_"):
            monkeypatch.delenv(name)
    data_dir = tmp_path / "cli-data"
    monkeypatch.setenv("DESKPILOT_ENV", "test")
    monkeypatch.setenv("DESKPILOT_DATABASE_URL", db.url)
    monkeypatch.setenv("DESKPILOT_DATA_DIR", str(data_dir))
    monkeypatch.setenv("DESKPILOT_SECRET_KEY", TEST_SECRET)
    return data_dir


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def write_training_csv(path: Path, *, label_column: str = "label", with_oos: bool = True) -> Path:
    texts, labels = examples()
    if with_oos:
        texts += OUT_OF_SCOPE
        labels += ["oos"] * len(OUT_OF_SCOPE)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", label_column])
        writer.writerows(zip(texts, labels, strict=True))
    return path


def test_train_then_predict_csv_and_jsonl(
    cli_env: Path, personas: Personas, tmp_path: Path
) -> None:
    data = write_training_csv(tmp_path / "train.csv")
    trained = run(
        "ai", "train", "--workspace", "acme", "--classifier", "tickets", "--data", str(data)
    )
    assert trained.exit_code == 0, trained.output
    assert "trained tickets v1: 3 labels, 75 examples" in trained.output

    texts = ["where is my parcel", "a recipe for a joke", "I forgot my password"]
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text("".join(json.dumps({"text": t, "id": i}) + "\n" for i, t in enumerate(texts)))
    out = tmp_path / "out.jsonl"
    args = ["ai", "predict", "--workspace", "acme", "--classifier", "tickets"]
    result = run(*args, "--input", str(jsonl), "--output", str(out))

    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [sorted(line) for line in lines] == [["confidence", "label", "out_of_scope", "text"]] * 3
    assert [line["text"] for line in lines] == texts
    assert [lines[0]["label"], lines[2]["label"]] == ["shipping", "password"]
    assert [line["out_of_scope"] for line in lines] == [False, True, False]

    csv_in = tmp_path / "in.csv"
    csv_in.write_text("id,text\n1,charged twice\n2,tracking number please\n")
    result = run(*args, "--input", str(csv_in), "--output", str(out))
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["label"] for line in out.read_text().splitlines()] == [
        "refund",
        "shipping",
    ]


def test_train_reports_bad_input_clearly(cli_env: Path, personas: Personas, tmp_path: Path) -> None:
    no_label = tmp_path / "bad.csv"
    no_label.write_text("text\nhello\n")
    result = CliRunner().invoke(
        main, ["ai", "train", "--workspace", "acme", "--classifier", "x", "--data", str(no_label)]
    )
    assert result.exit_code == 1
    assert "needs a `text` and a `label` column" in result.output

    data = write_training_csv(tmp_path / "train.csv")
    result = CliRunner().invoke(
        main,
        ["ai", "train", "--workspace", "acme", "--classifier", "Bad Name", "--data", str(data)],
    )
    assert result.exit_code == 1
    assert "start with a letter" in result.output

    result = CliRunner().invoke(
        main,
        [
            *("ai", "predict", "--workspace", "acme", "--classifier", "missing"),
            *("--input", str(data), "--output", str(tmp_path / "o.jsonl")),
        ],
    )
    assert result.exit_code == 1
    assert "classifier 'missing' not found" in result.output


def test_eval_intents_cross_validates_a_csv(cli_env: Path, tmp_path: Path) -> None:
    data = write_training_csv(tmp_path / "intents.csv", label_column="category", with_oos=False)
    report_path = tmp_path / "report.json"

    result = run("eval", "intents", "--data", str(data), "--folds", "3", "--json", str(report_path))

    assert result.exit_code == 0, result.output
    report = json.loads(report_path.read_text())
    assert (report["folds"], report["labels"], report["examples"]) == (3, 3, 75)
    assert report["accuracy"] > 0.8
    assert 0 < report["macro_f1"] <= 1
    assert report["latency"]["p95_ms"] >= report["latency"]["p50_ms"] > 0
    assert "accuracy" in result.output


def test_eval_oos_scores_clinc_style_json(cli_env: Path, tmp_path: Path) -> None:
    texts, labels = examples()
    pairs = [[t, lab] for t, lab in zip(texts, labels, strict=True)]
    data = {
        "train": pairs,
        "val": [["refund, charged twice", "refund"], ["parcel tracking number", "shipping"]],
        "oos_train": [[t, "oos"] for t in OUT_OF_SCOPE],
        "oos_val": [["a recipe for a joke", "oos"]],
    }
    path = tmp_path / "clinc.json"
    path.write_text(json.dumps(data))
    report_path = tmp_path / "report.json"

    result = run("eval", "oos", "--data", str(path), "--json", str(report_path))

    assert result.exit_code == 0, result.output
    report = json.loads(report_path.read_text())
    assert (report["in_scope"], report["out_of_scope"]) == (2, 1)
    assert report["threshold_source"] == "held-out oos examples"
    assert report["in_scope_accuracy"] == 1.0
    assert report["oos_recall"] == 1.0
    assert report["auroc"] == 1.0


def test_eval_oos_with_tune_uses_the_tuned_configuration(cli_env: Path, tmp_path: Path) -> None:
    texts, labels = examples()
    data = {
        "train": [[t, lab] for t, lab in zip(texts, labels, strict=True)],
        "val": [["refund, charged twice", "refund"]],
        "oos_train": [[t, "oos"] for t in OUT_OF_SCOPE],
        "oos_val": [["a recipe for a joke", "oos"]],
    }
    path = tmp_path / "clinc.json"
    path.write_text(json.dumps(data))
    report_path = tmp_path / "report.json"

    result = run("eval", "oos", "--data", str(path), "--tune", "--json", str(report_path))

    assert result.exit_code == 0, result.output
    report = json.loads(report_path.read_text())
    # The hashing fake has no weights to tune, but the tuned config's recall target applies.
    assert report["threshold_source"] == "held-out oos examples (95% rejected)"
    assert report["encoder"] == "frozen"
