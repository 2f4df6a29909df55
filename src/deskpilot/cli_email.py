"""`deskpilot smtp` and `deskpilot imap-poll`: the ways support mail comes in."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

import click

from deskpilot.bootstrap import configure_runtime
from deskpilot.cli_common import load_cli_settings, safe_url
from deskpilot.core.errors import DomainError
from deskpilot.db.engine import open_database
from deskpilot.email.imap_poller import ImapError, imap_workspaces, poll_workspace
from deskpilot.email.inbound import max_message_bytes
from deskpilot.email.smtp_listener import make_controller
from deskpilot.web.server import configure_logging
from deskpilot.workspaces import service as workspaces_service


@click.command("smtp")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", type=click.IntRange(0, 65535), default=2525, show_default=True)
def smtp(host: str, port: int) -> None:
    """Run the inbound SMTP listener (point your MX or mail relay at it).

    Mail for a workspace's support address (plus tags included) becomes tickets and replies;
    other recipients are refused with 550. Jobs it creates (the AI pipeline) go to the same queue
    as the web server's: `deskpilot serve` (or `deskpilot worker` with Redis) runs them.
    """
    from deskpilot.main import queue_mode_for

    settings = load_cli_settings()
    configure_logging(settings, quiet_jobs=True)
    # aiosmtpd logs every SMTP command at INFO; our own log line per message is enough.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    db = open_database(settings.resolved_database_url, pool_size=4)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    try:
        configure_runtime(settings, db, queue_mode=queue_mode_for(settings))
        controller = make_controller(db, settings, host=host, port=port)
        controller.start()
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        click.echo(
            f"SMTP listener on {host}:{controller.port} (database "
            f"{safe_url(settings.resolved_database_url)}, "
            f"messages up to {max_message_bytes(settings)} bytes)",
            err=True,
        )
        stop.wait()
        controller.stop()
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from exc
    finally:
        db.dispose()


@click.command("imap-poll")
@click.option("--workspace", "slug", default=None, help="Only this workspace [default: all].")
@click.option(
    "--every", type=click.IntRange(10, 3600), default=60, show_default=True, help="Seconds."
)
@click.option("--once", is_flag=True, help="Poll once and exit (e.g. from cron).")
def imap_poll(slug: str | None, every: int, once: bool) -> None:
    """Fetch unseen mail from the workspaces' IMAP mailboxes (mail settings `imap_*`).

    Each message is received like SMTP mail, in its own transaction, then marked seen (or moved
    to `imap_processed_folder`). Exits 1 with --once if a mailbox could not be read.
    """
    from deskpilot.main import queue_mode_for

    settings = load_cli_settings()
    configure_logging(settings, quiet_jobs=True)
    db = open_database(settings.resolved_database_url, pool_size=2)
    stop = threading.Event()
    if not once:
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
    failures = 0
    try:
        configure_runtime(
            settings, db, queue_mode="immediate" if once else queue_mode_for(settings)
        )
        while True:
            with db.session(write=False) as session:
                if slug is None:
                    targets = imap_workspaces(session)
                else:
                    targets = [workspaces_service.require_workspace_by_slug(session, slug).id]
            for workspace_id in targets:
                try:
                    result = poll_workspace(db, settings, workspace_id)
                except ImapError as exc:
                    failures += 1
                    click.echo(f"workspace {workspace_id}: {exc}", err=True)
                    continue
                click.echo(
                    f"workspace {workspace_id}: {result.fetched} fetched, {result.stored} "
                    f"stored, {result.ignored} ignored, {result.duplicates} duplicates, "
                    f"{result.failed} failed, {len(result.too_big)} too big"
                )
            if once or stop.wait(every):
                break
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        db.dispose()
    if once and failures:
        raise SystemExit(1)
