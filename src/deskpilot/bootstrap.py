"""Process set-up shared by the web server, the worker and CLI commands that run jobs."""

from __future__ import annotations

from typing import Literal

from deskpilot.ai.embeddings import configure_models_dir, configure_threads
from deskpilot.db.engine import Database
from deskpilot.jobs import queue
from deskpilot.settings import Settings

QueueMode = Literal["immediate", "embedded", "redis"]


def configure_runtime(settings: Settings, db: Database, *, queue_mode: QueueMode) -> None:
    """Register every job, point the AI at DATA_DIR's models and connect the job queue."""
    import deskpilot.tasks  # noqa: F401 - importing registers the jobs
    from deskpilot.email import outbound
    from deskpilot.triage import pipeline

    outbound.configure(settings)
    pipeline.set_enabled(settings.ai_pipeline)
    configure_models_dir(settings.data_dir / "models")
    configure_threads(settings.ai_threads)
    queue.configure(
        db,
        mode=queue_mode,
        data_dir=str(settings.data_dir),
        redis_url=settings.redis_url,
        max_attempts=settings.job_max_attempts,
    )
