"""`deskpilot analytics rollup`: rebuild the analytics roll-ups of a workspace for any dates."""

from __future__ import annotations

from datetime import date, timedelta

import click

from deskpilot.analytics import rollups
from deskpilot.analytics.periods import reporting_for
from deskpilot.cli_common import command_transaction, load_cli_settings
from deskpilot.core.context import Context
from deskpilot.workspaces import service as workspaces_service


@click.group("analytics")
def analytics() -> None:
    """Analytics roll-ups (the dashboards and /api/v1/analytics read them)."""


def _parse_day(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint=name) from exc


@analytics.command("rollup")
@click.option("--workspace", "slug", required=True, help="Workspace slug.")
@click.option("--from", "start", default=None, help="First day (YYYY-MM-DD); default yesterday.")
@click.option("--to", "end", default=None, help="Last day (YYYY-MM-DD); default today.")
def rollup(slug: str, start: str | None, end: str | None) -> None:
    """Recompute the roll-ups for local days FROM..TO (inclusive); safe to run again."""
    settings = load_cli_settings()
    with command_transaction(settings) as session:
        workspace = workspaces_service.require_workspace_by_slug(session, slug)
        ctx = Context.system(workspace.id)
        today = reporting_for(session, ctx).today()
        last = _parse_day(end, "--to") or today
        first = _parse_day(start, "--from") or min(last, today - timedelta(days=1))
        result = rollups.recompute(session, ctx, first, last)
    click.echo(
        f"Rolled up {slug!r} from {result.start} to {result.end}: {result.tickets} tickets, "
        f"{result.agent_rows} agent-days, {result.model_rows} model-days, "
        f"{result.kb_rows} search-days."
    )
