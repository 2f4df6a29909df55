"""The `deskpilot` command: run the server and workers, migrate, and administer workspaces.

Every command reads settings once, opens the database itself, acts through the domain services
with a system context, and commits once. Failures print one clear line and exit with status 1.
"""

from __future__ import annotations

from typing import Any

import click
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from deskpilot import __version__
from deskpilot.auth import service as auth_service
from deskpilot.auth.models import Membership
from deskpilot.bootstrap import configure_runtime
from deskpilot.cli_ai import ai
from deskpilot.cli_analytics import analytics
from deskpilot.cli_common import command_transaction, load_cli_settings, safe_url
from deskpilot.cli_email import imap_poll, smtp
from deskpilot.cli_kb import eval_group, kb
from deskpilot.cli_triage import ai_answer  # noqa: F401 - registers the engine's commands
from deskpilot.core.context import Context, Role
from deskpilot.core.errors import NotFound
from deskpilot.db import migrate
from deskpilot.db.engine import open_database
from deskpilot.db.scoped import scoped
from deskpilot.demo import seed
from deskpilot.jobs import queue
from deskpilot.web import server
from deskpilot.web.server import configure_logging
from deskpilot.workspaces import service as workspaces_service

ADMIN_ROLES = ("owner", "admin")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="deskpilot")
def main() -> None:
    """Deskpilot: an open-source, AI-first help desk.

    Settings come from DESKPILOT_* environment variables (see docs/configuration.md).
    """


# --- serving -------------------------------------------------------------------------------------


@main.command()
@click.option("--host", default=None, help="Interface to bind [default: DESKPILOT_HOST].")
@click.option("--port", type=int, default=None, help="Port [default: DESKPILOT_PORT].")
@click.option(
    "--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Processes."
)
@click.option("--reload", is_flag=True, help="Restart on code changes (development).")
def serve(host: str | None, port: int | None, workers: int, reload: bool) -> None:
    """Run the web server and API.

    Without Redis, one of the server processes also consumes the job queue, so no separate worker
    is needed. With DESKPILOT_REDIS_URL set, run `deskpilot worker` as well.
    """
    settings = load_cli_settings()
    if reload and workers > 1:
        raise click.ClickException("--reload runs a single process; drop --workers")
    if settings.redis_url:
        click.echo("Jobs go to Redis: run `deskpilot worker` to process them.", err=True)
    server.serve(settings, host=host, port=port, workers=workers, reload=reload)


@main.command()
@click.option(
    "--threads", type=click.IntRange(min=1), default=4, show_default=True, help="Job threads."
)
def worker(threads: int) -> None:
    """Process background jobs from Redis (needs DESKPILOT_REDIS_URL)."""
    settings = load_cli_settings()
    if not settings.redis_url:
        raise click.ClickException(
            "deskpilot worker needs DESKPILOT_REDIS_URL. Without Redis there is nothing to do "
            "here: `deskpilot serve` runs jobs itself in an embedded consumer."
        )
    configure_logging(settings, quiet_jobs=False)
    db = open_database(settings.resolved_database_url, pool_size=threads + 2)
    try:
        configure_runtime(settings, db, queue_mode="redis")
        consumer = queue.start_consumer(threads, embedded=False)
        if settings.ai_pipeline:
            from deskpilot.triage import pipeline

            pipeline.warm_up_in_background()
        click.echo(f"Worker consuming jobs from {safe_url(settings.redis_url)}", err=True)
        consumer.run()
    except SQLAlchemyError as exc:
        raise click.ClickException(f"database error: {exc}") from exc
    finally:
        db.dispose()


# --- database ------------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database schema: migrate and check."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database to the latest schema."""
    settings = load_cli_settings()
    url = settings.resolved_database_url
    try:
        migrate.upgrade(url)
    except SQLAlchemyError as exc:
        raise click.ClickException(f"migration failed on {safe_url(url)}: {exc}") from exc
    click.echo(f"Database {safe_url(url)} is at the latest schema.")


@db.command("check")
def db_check() -> None:
    """Fail if the models differ from the migrated schema (a migration is missing)."""
    settings = load_cli_settings()
    url = settings.resolved_database_url
    try:
        changes = migrate.pending_model_changes(url)
    except SQLAlchemyError as exc:
        raise click.ClickException(f"cannot inspect {safe_url(url)}: {exc}") from exc
    if changes:
        for change in changes:
            click.echo(f"  {change!r}")
        raise click.ClickException(
            f"{len(changes)} difference(s) between the models and the migrations: "
            "write a migration (alembic revision --autogenerate) and review it."
        )
    click.echo("Models and migrations agree.")


# --- administration ------------------------------------------------------------------------------


@main.group()
def workspace() -> None:
    """Create workspaces (tenants)."""


@workspace.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="Display name, e.g. 'Acme Support'.")
def workspace_create(slug: str, name: str) -> None:
    """Create a workspace with the URL-safe SLUG."""
    settings = load_cli_settings()
    with command_transaction(settings) as session:
        ws = workspaces_service.create_workspace(session, slug=slug, name=name)
        slug, ws_id = ws.slug, ws.id
    click.echo(f"Created workspace {slug!r} (id {ws_id}).")


@main.group()
def admin() -> None:
    """Create workspace owners and admins."""


@admin.command("create")
@click.option("--workspace", "slug", required=True, help="Workspace slug.")
@click.option("--email", required=True)
@click.option("--password", required=True, help="At least 8 characters.")
@click.option("--name", default="", help="Display name.")
@click.option(
    "--role",
    type=click.Choice(ADMIN_ROLES),
    default=None,
    help="[default: owner if the workspace has none yet, else admin]",
)
def admin_create(slug: str, email: str, password: str, name: str, role: str | None) -> None:
    """Add an owner or admin who can sign in with EMAIL and PASSWORD."""
    settings = load_cli_settings()
    with command_transaction(settings) as session:
        ws = workspaces_service.require_workspace_by_slug(session, slug)
        ctx = Context.system(ws.id)
        chosen = Role(role) if role else (Role.admin if _has_owner(session, ctx) else Role.owner)
        existing_user = auth_service.get_user_by_email(session, email)
        if existing_user is None:
            auth_service.validate_password(password)
        auth_service.add_member(
            session, ctx, email=email, role=chosen, name=name, password=password
        )
    click.echo(f"Added {auth_service.normalize_email(email)} as {chosen.value} of {slug!r}.")
    if existing_user is not None:
        click.echo("That account already existed and keeps its own password.", err=True)


def _has_owner(session: Session, ctx: Context) -> bool:
    # auth.service has no member listing yet; this is the one query the CLI makes itself.
    owners = scoped(ctx, Membership).where(Membership.role == Role.owner.value).limit(1)
    return session.scalars(owners).first() is not None


@main.group()
def token() -> None:
    """Issue API tokens."""


@token.command("create")
@click.option("--workspace", "slug", required=True, help="Workspace slug.")
@click.option("--email", required=True, help="The member the token acts as.")
@click.option("--name", default="cli", show_default=True, help="A label for the token.")
def token_create(slug: str, email: str, name: str) -> None:
    """Print a new API token (only the token, so it can be captured by a script)."""
    settings = load_cli_settings()
    with command_transaction(settings) as session:
        ws = workspaces_service.require_workspace_by_slug(session, slug)
        user = auth_service.get_user_by_email(session, email)
        if user is None:
            raise click.ClickException(f"{email!r} is not a member of {slug!r}")
        ctx = Context.system(ws.id)
        try:
            issued = auth_service.issue_token(session, ctx, user_id=user.id, name=name)
        except NotFound as exc:
            raise click.ClickException(f"{email!r} is not a member of {slug!r}") from exc
        secret = issued.secret
    click.echo(secret)


# --- demo ----------------------------------------------------------------------------------------


@main.command()
@click.option("--if-empty", is_flag=True, help="Only seed a database that has no workspaces.")
def demo(if_empty: bool) -> None:
    """Seed the `demo` workspace with sample data and print how to sign in."""
    settings = load_cli_settings()
    summary: dict[str, Any] | None = None
    with command_transaction(settings) as session:
        if workspaces_service.get_workspace_by_slug(session, seed.DEMO_SLUG) is not None:
            click.echo(f"Demo workspace {seed.DEMO_SLUG!r} already exists; nothing to do.")
        elif if_empty and seed.any_workspace_exists(session):
            click.echo("The database already has workspaces; skipping the demo (--if-empty).")
            return
        else:
            summary = seed.seed_demo(session).as_dict()
    if summary is not None:
        from deskpilot.ai import ticket_models

        # Train the default ticket type/priority models now rather than on the first ticket.
        ticket_models.warm_up()
        click.echo(
            f"Seeded workspace {seed.DEMO_SLUG!r}: {summary['organizations']} organizations, "
            f"{summary['contacts']} contacts, {summary['tickets']} tickets, "
            f"{summary['articles']} help-center articles."
        )
    click.echo(seed.credentials_text(settings.base_url))


main.add_command(kb)
main.add_command(eval_group)
main.add_command(ai)
main.add_command(smtp)
main.add_command(imap_poll)
main.add_command(analytics)
