"""Run Alembic programmatically (`deskpilot db upgrade`) and compare models with migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, pool

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


# Search structures kept outside the models (FTS5 tables and their shadow tables on SQLite, GIN
# expression indexes on PostgreSQL; migration 0009): the model comparison ignores them.
UNMODELLED_PREFIXES = ("ticket_search", "ix_ticket_search")


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    return not (name or "").startswith(UNMODELLED_PREFIXES)


def upgrade(url: str, revision: str = "heads") -> None:
    command.upgrade(alembic_config(url), revision)


def pending_model_changes(url: str) -> list[Any]:
    """Differences between the migrated database and the models; empty when they agree."""
    from deskpilot.models import metadata

    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn, opts={"compare_type": True, "include_name": include_name}
            )
            return list(compare_metadata(ctx, metadata))
    finally:
        engine.dispose()
