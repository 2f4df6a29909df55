"""`deskpilot ai ...` (train and run intent classifiers) and `deskpilot eval intents|oos`."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import click

from deskpilot.cli_common import command_transaction, load_cli_settings
from deskpilot.cli_kb import eval_group
from deskpilot.core.context import Context
from deskpilot.workspaces import service as workspaces_service

LABEL_COLUMNS = ("label", "category", "intent")


def read_labelled_csv(path: Path) -> tuple[list[str], list[str]]:
    """`text` plus a `label` column (`category` and `intent` are accepted too)."""
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        columns = reader.fieldnames or []
        label_column = next((c for c in LABEL_COLUMNS if c in columns), None)
        if "text" not in columns or label_column is None:
            raise click.ClickException(f"{path}: needs a `text` and a `label` column")
        rows = [(row["text"] or "", row[label_column] or "") for row in reader]
    return [text for text, _ in rows], [label for _, label in rows]


def read_texts(path: Path) -> list[str]:
    """Texts from a CSV with a `text` column, or JSONL lines with a `text` field."""
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        texts = []
        with path.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                item = json.loads(line)
                if not isinstance(item, dict) or not isinstance(item.get("text"), str):
                    raise click.ClickException(f'{path}:{number}: expected {{"text": ...}}')
                texts.append(item["text"])
        return texts
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        if "text" not in (reader.fieldnames or []):
            raise click.ClickException(f"{path}: needs a `text` column")
        return [row["text"] or "" for row in reader]


TUNE_OPTION = click.option(
    "--tune",
    is_flag=True,
    help="Fine-tune the encoder on the examples first (minutes instead of seconds).",
)


@click.group()
def ai() -> None:
    """Intent classifiers: train one on labelled examples, label texts with it."""


@ai.command("train")
@click.option("--workspace", "slug", required=True, help="Workspace slug.")
@click.option("--classifier", "name", required=True, help="Classifier name, e.g. `category`.")
@click.option(
    "--data",
    "data_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV with columns text,label (label `oos` marks texts to reject).",
)
@TUNE_OPTION
def ai_train(slug: str, name: str, data_path: Path, tune: bool) -> None:
    """Train the next version of a classifier (the newest version is the one used)."""
    from deskpilot.ai import classifiers
    from deskpilot.ai.classifier import TUNED_CONFIG

    texts, labels = read_labelled_csv(data_path)
    examples = [classifiers.Example(t, lab) for t, lab in zip(texts, labels, strict=True)]
    settings = load_cli_settings()
    with command_transaction(settings) as session:
        workspace = workspaces_service.require_workspace_by_slug(session, slug)
        config = TUNED_CONFIG if tune else None
        row, _ = classifiers.train(
            session, Context.system(workspace.id), name, examples, config=config
        )
        summary = (
            f"trained {name} v{row.version}: {len(row.labels)} labels, "
            f"{row.metrics.get('examples')} examples, out-of-scope threshold {row.threshold:.3f}"
        )
        cv_accuracy = row.metrics.get("details", {}).get("cv_accuracy")
    click.echo(summary + (f", cross-validated accuracy {cv_accuracy}" if cv_accuracy else ""))


@ai.command("predict")
@click.option("--workspace", "slug", required=True, help="Workspace slug.")
@click.option("--classifier", "name", required=True, help="Classifier name.")
@click.option(
    "--input",
    "input_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV with a `text` column, or JSONL with a `text` field.",
)
@click.option(
    "--output", "output_path", required=True, type=click.Path(dir_okay=False, path_type=Path)
)
def ai_predict(slug: str, name: str, input_path: Path, output_path: Path) -> None:
    """Write one {text, label, confidence, out_of_scope} JSON line per input text, in order."""
    from deskpilot.ai import classifiers

    texts = read_texts(input_path)
    settings = load_cli_settings()
    with command_transaction(settings) as session:
        workspace = workspaces_service.require_workspace_by_slug(session, slug)
        predictions = classifiers.predict(session, Context.system(workspace.id), name, texts)
    with output_path.open("w", encoding="utf-8") as out:
        for text, p in zip(texts, predictions, strict=True):
            line = {
                "text": text,
                "label": p.label,
                "confidence": p.confidence,
                "out_of_scope": p.out_of_scope,
            }
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
    rejected = sum(p.out_of_scope for p in predictions)
    click.echo(f"labelled {len(predictions)} texts ({rejected} out of scope) -> {output_path}")


@eval_group.command("intents")
@click.option("--data", "data_path", required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--folds", type=click.IntRange(min=2, max=20), default=5, show_default=True)
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Also write the report.")
@TUNE_OPTION
def eval_intents(data_path: Path, folds: int, json_path: Path | None, tune: bool) -> None:
    """Cross-validated accuracy, macro F1 and per-text latency on a text,label CSV (with --tune,
    each fold fine-tunes its own encoder on its training part only)."""
    from dataclasses import replace

    from deskpilot.ai.classifier import TUNED_CONFIG
    from deskpilot.evals import intents

    texts, labels = read_labelled_csv(data_path)
    config = replace(TUNED_CONFIG, calibration_folds=0) if tune else None
    report = intents.run_cross_validation(texts, labels, folds=folds, config=config)
    click.echo(intents.format_report(report))
    if json_path is not None:
        json_path.write_text(json.dumps(report, indent=2))


@eval_group.command("oos")
@click.option("--data", "data_path", required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Also write the report.")
@TUNE_OPTION
def eval_oos(data_path: Path, json_path: Path | None, tune: bool) -> None:
    """In-scope accuracy and out-of-scope recall on CLINC150-style JSON (train, val, oos_*)."""
    from deskpilot.ai.classifier import TUNED_CONFIG
    from deskpilot.evals import intents

    report = intents.run_out_of_scope(data_path, config=TUNED_CONFIG if tune else None)
    click.echo(intents.format_report(report))
    if json_path is not None:
        json_path.write_text(json.dumps(report, indent=2))
