"""`deskpilot kb ...` (import, reindex, adapt) and `deskpilot eval ...` commands."""

from __future__ import annotations

import json
from pathlib import Path

import click

from deskpilot.cli_common import command_transaction, load_cli_settings, runtime_database
from deskpilot.core.context import Context
from deskpilot.workspaces import service as workspaces_service


@click.group()
def kb() -> None:
    """Knowledge base: import articles, rebuild the search index, adapt the embedder."""


@kb.command("import")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--workspace", "slug", required=True, help="Workspace slug.")
def kb_import(path: Path, slug: str) -> None:
    """Import a JSONL file or a folder of Markdown files (re-importing updates, never duplicates)."""
    from deskpilot.kb.importer import import_path
    from deskpilot.kb.tasks import reindex_workspace

    settings = load_cli_settings()
    with command_transaction(settings) as session:
        workspace = workspaces_service.require_workspace_by_slug(session, slug)
        # Index once in batches afterwards instead of one job per article.
        summary = import_path(
            session,
            Context.system(workspace.id),
            path,
            after_batch=session.commit,
            request_index=False,
        )
    with runtime_database(settings) as db:
        indexed = reindex_workspace(db, workspace.id, only_stale=True)
    click.echo(f"indexed {indexed} articles")
    for where, message in summary.errors:
        click.echo(f"{where}: {message}", err=True)
    click.echo(
        f"imported {summary.imported}, updated {summary.updated}, "
        f"unchanged {summary.unchanged}, failed {summary.failed}"
    )


@kb.command("reindex")
@click.option("--workspace", "slug", required=True, help="Workspace slug.")
@click.option("--stale-only", is_flag=True, help="Only articles whose index is missing or old.")
def kb_reindex(slug: str, stale_only: bool) -> None:
    """Rebuild the search index of a workspace now (normally automatic)."""
    from deskpilot.kb.tasks import reindex_workspace

    settings = load_cli_settings()
    with command_transaction(settings) as session:
        workspace_id = workspaces_service.require_workspace_by_slug(session, slug).id
    with runtime_database(settings) as db:
        count = reindex_workspace(db, workspace_id, only_stale=stale_only)
    click.echo(f"indexed {count} articles")


@kb.command("adapt")
@click.option("--workspace", "slug", required=True, help="Workspace slug.")
def kb_adapt(slug: str) -> None:
    """Adapt the embedder to this workspace's KB now, then re-embed it (takes minutes)."""
    from deskpilot.kb.adapt import switch_workspace_model, train_workspace_model
    from deskpilot.kb.tasks import reindex_workspace

    settings = load_cli_settings()
    with command_transaction(settings) as session:
        workspace_id = workspaces_service.require_workspace_by_slug(session, slug).id
    with runtime_database(settings) as db:
        with db.session(write=False) as session:
            model = train_workspace_model(session, workspace_id)
        if model is None:
            raise click.ClickException("not enough reviewed articles to adapt the embedder yet")
        with db.session(write=True) as session:
            switch_workspace_model(session, workspace_id, model)
            session.commit()
        count = reindex_workspace(db, workspace_id, only_stale=True)
    click.echo(f"workspace {slug} now uses {model}; re-embedded {count} articles")


@click.group("eval")
def eval_group() -> None:
    """Measure the AI on labelled data sets (see docs/ai.md)."""


@eval_group.command("retrieval")
@click.option("--kb", "kb_path", required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--queries", "queries_path", required=True, type=click.Path(exists=True, path_type=Path)
)
@click.option("--no-adapt", is_flag=True, help="Skip the KB-adapted embedder (base model only).")
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Also write the report.")
def eval_retrieval(
    kb_path: Path, queries_path: Path, no_adapt: bool, json_path: Path | None
) -> None:
    """P@1, MRR, Recall@5 and latency of KB search on {query, answer_external_id} lines."""
    from deskpilot.evals import retrieval

    report = retrieval.run(kb_path, queries_path, adapt=not no_adapt)
    click.echo(retrieval.format_report(report))
    if json_path is not None:
        json_path.write_text(json.dumps(report, indent=2))
