"""Helpers shared by the `deskpilot` command groups: settings, errors, one transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from deskpilot.bootstrap import configure_runtime
from deskpilot.core.errors import DomainError
from deskpilot.db.engine import Database, open_database
from deskpilot.settings import Settings, load_settings


def load_cli_settings() -> Settings:
    try:
        settings = load_settings()
    except ValidationError as exc:
        problems = "; ".join(f"{err['msg']}" for err in exc.errors())
        raise click.ClickException(f"invalid DESKPILOT_* settings: {problems}") from exc
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings


def safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def describe_error(exc: DomainError) -> str:
    details = exc.details
    if isinstance(details, list) and details:
        fields = ", ".join(
            f"{d.get('field')}: {d.get('message')}" for d in details if isinstance(d, dict)
        )
        return f"{exc.message} ({fields})"
    return exc.message


@contextmanager
def command_transaction(settings: Settings) -> Iterator[Session]:
    """One write transaction for a command; jobs it enqueues run right after the commit."""
    db = open_database(settings.resolved_database_url, pool_size=2)
    configure_runtime(settings, db, queue_mode="immediate")
    try:
        with db.session(write=True) as session:
            yield session
            session.commit()
    except DomainError as exc:
        raise click.ClickException(describe_error(exc)) from exc
    except SQLAlchemyError as exc:
        raise click.ClickException(
            f"database error on {safe_url(settings.resolved_database_url)}: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0]}\n"
            "Is the database reachable and migrated? Run `deskpilot db upgrade`."
        ) from exc
    finally:
        db.dispose()


@contextmanager
def runtime_database(settings: Settings) -> Iterator[Database]:
    """The database with jobs registered and run immediately, for commands that do the work."""
    db = open_database(settings.resolved_database_url, pool_size=2)
    configure_runtime(settings, db, queue_mode="immediate")
    try:
        yield db
    finally:
        db.dispose()
