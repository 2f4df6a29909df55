"""Alembic environment. Version files are plain DDL and never import application code."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from sqlalchemy import JSON, create_engine, pool

from deskpilot.db.base import UTCDateTime
from deskpilot.db.migrate import include_name
from deskpilot.models import metadata
from deskpilot.settings import normalize_database_url

config = context.config
url = normalize_database_url(config.get_main_option("sqlalchemy.url") or "")


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Render custom column types as plain SQLAlchemy types so version files stay self-contained."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, JSON):
        autogen_context.imports.add("from sqlalchemy.dialects import postgresql")
        return "sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')"
    return False


def run_migrations_offline() -> None:
    context.configure(url=url, target_metadata=metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        _run(connectable)
        return
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=metadata,
        render_as_batch=True,
        compare_type=True,
        render_item=render_item,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
