"""`deskpilot ai answer|calibrate` and `deskpilot eval answers`: the resolution engine from the
command line."""

from __future__ import annotations

import json
from pathlib import Path

import click

from deskpilot.cli_ai import ai
from deskpilot.cli_common import command_transaction, load_cli_settings
from deskpilot.cli_kb import eval_group
from deskpilot.core.context import Context
from deskpilot.workspaces import service as workspaces_service

EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
OUTPUT_FILE = click.Path(dir_okay=False, path_type=Path)


def read_queries(path: Path) -> list[str]:
    queries = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise click.ClickException(f"{path}:{number}: not JSON ({exc.msg})") from exc
            if not isinstance(item, dict) or not isinstance(item.get("query"), str):
                raise click.ClickException(f'{path}:{number}: expected {{"query": "..."}}')
            queries.append(item["query"])
    return queries


@ai.command("answer")
@click.option("--workspace", "slug", required=True, help="Workspace slug.")
@click.option(
    "--input", "input_path", required=True, type=EXISTING_FILE, help='JSONL of {"query"}.'
)
@click.option("--output", "output_path", required=True, type=OUTPUT_FILE)
def ai_answer(slug: str, input_path: Path, output_path: Path) -> None:
    """Answer each query as `POST /api/v1/ai/answer` does (a dry run: only the decision log is
    stored); one JSON line per query, in input order."""
    from deskpilot.triage import service as triage_service

    queries = read_queries(input_path)
    settings = load_cli_settings()
    counts: dict[str, int] = {}
    with command_transaction(settings) as session, output_path.open("w", encoding="utf-8") as out:
        workspace = workspaces_service.require_workspace_by_slug(session, slug)
        ctx = Context.system(workspace.id)
        for query in queries:
            result = triage_service.answer_question(session, ctx, query)
            # One transaction per query: a long file never holds the write lock, nor loses work.
            session.commit()
            counts[result["decision"]] = counts.get(result["decision"], 0) + 1
            out.write(json.dumps({"query": query, **result}, ensure_ascii=False) + "\n")
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    click.echo(f"answered {len(queries)} queries ({summary}) -> {output_path}")


@ai.command("calibrate")
@click.option("--kb", "kb_path", required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--queries", "queries_path", required=True, type=EXISTING_FILE)
@click.option("--output", "output_path", required=True, type=OUTPUT_FILE)
@click.option("--no-adapt", is_flag=True, help="Keep the built-in embedder (no KB adaptation).")
def ai_calibrate(kb_path: Path, queries_path: Path, output_path: Path, no_adapt: bool) -> None:
    """Fit a confidence calibrator on labelled questions ({query, answer_external_id} JSONL)."""
    from deskpilot.evals import calibration

    report = calibration.calibrate(kb_path, queries_path, adapt=not no_adapt)
    output_path.write_text(json.dumps(report["calibrator"], indent=2) + "\n", encoding="utf-8")
    click.echo(
        f"calibrator fitted on {report['calibrator']['samples']} queries "
        f"(in-sample ECE {report['ece_in_sample']:.3f}) -> {output_path}"
    )


@eval_group.command("answers")
@click.option("--kb", "kb_path", required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--queries", "queries_path", required=True, type=EXISTING_FILE)
@click.option("--folds", default=0, show_default=True, help="Also cross-fit calibrators (K>=2).")
@click.option("--no-adapt", is_flag=True, help="Keep the built-in embedder (no KB adaptation).")
@click.option("--json", "json_path", type=OUTPUT_FILE, help="Write the full report as JSON.")
def eval_answers(
    kb_path: Path, queries_path: Path, folds: int, no_adapt: bool, json_path: Path | None
) -> None:
    """Answer accuracy, decisions, risk-coverage and calibration on labelled questions."""
    from deskpilot.evals import answers

    report = answers.run(kb_path, queries_path, adapt=not no_adapt, folds=folds)
    click.echo(answers.format_report(report))
    if json_path:
        answers.write_json(json_path, report)
