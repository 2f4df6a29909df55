"""A fresh, migrated Deskpilot database for a benchmark run (SQLite file or a wiped PostgreSQL
schema), with the runtime configured to run jobs immediately."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from deskpilot.bootstrap import configure_runtime
from deskpilot.db import migrate
from deskpilot.db.engine import Database, open_database
from deskpilot.settings import Settings, normalize_database_url


def fresh_database(
    url: str | None, data_dir: Path, *, pool_size: int = 4, **settings: Any
) -> tuple[Database, Settings]:
    """`url` None means a SQLite file under `data_dir`; a PostgreSQL database's `public` schema
    is dropped and recreated, so point it at a database you own."""
    config = Settings(
        env="test",
        data_dir=data_dir,
        secret_key="bench-" + "k" * 40,
        database_url=url,
        **settings,
    )
    config.data_dir.mkdir(parents=True, exist_ok=True)
    resolved = config.resolved_database_url
    if resolved.startswith("postgresql"):
        engine = create_engine(normalize_database_url(resolved))
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    migrate.upgrade(resolved)
    db = open_database(resolved, pool_size=pool_size)
    configure_runtime(config, db, queue_mode="immediate")
    return db, config
