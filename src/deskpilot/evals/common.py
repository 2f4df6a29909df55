"""A throwaway Deskpilot (SQLite under a temp dir, immediate jobs) for evaluations."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deskpilot.bootstrap import configure_runtime
from deskpilot.core.context import Context
from deskpilot.db import migrate
from deskpilot.db.engine import Database, open_database
from deskpilot.settings import Settings
from deskpilot.workspaces import service as workspaces_service


@dataclass
class Sandbox:
    settings: Settings
    db: Database
    workspace_id: int

    @property
    def ctx(self) -> Context:
        return Context.system(self.workspace_id)


@contextmanager
def sandbox(slug: str = "eval") -> Iterator[Sandbox]:
    with tempfile.TemporaryDirectory(prefix="deskpilot-eval-") as tmp:
        # An evaluation is a batch job: let inference use every core.
        settings = Settings(
            env="test",
            data_dir=Path(tmp),
            secret_key="eval-" + "x" * 40,
            ai_threads=os.cpu_count() or 1,
        )
        url = settings.resolved_database_url
        migrate.upgrade(url)
        db = open_database(url, pool_size=4)
        configure_runtime(settings, db, queue_mode="immediate")
        try:
            with db.session(write=True) as session:
                workspace_id = workspaces_service.create_workspace(session, slug=slug, name=slug).id
                session.commit()
            yield Sandbox(settings, db, workspace_id)
        finally:
            db.dispose()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    if not samples_ms:
        return {"p50_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0}
    values = np.asarray(samples_ms)
    return {
        "p50_ms": round(float(np.percentile(values, 50)), 2),
        "p95_ms": round(float(np.percentile(values, 95)), 2),
        "p99_ms": round(float(np.percentile(values, 99)), 2),
    }
