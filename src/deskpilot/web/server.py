"""`deskpilot serve`: uvicorn over the app factory, with the embedded job consumer in one process.

uvicorn needs an import string to start several worker processes, so each process builds its own
app through `app_factory()` from the environment. The embedded huey consumer must run exactly once
per DATA_DIR, however many processes serve requests: the first process to take an exclusive,
non-blocking lock on DATA_DIR/worker.lock runs it. The operating system drops the lock when that
process exits, so a restarted or reloaded process can take it over.
"""

from __future__ import annotations

import fcntl
import gc
import logging
import os
from pathlib import Path
from typing import IO, Any

import uvicorn
from fastapi import FastAPI

from deskpilot.main import create_app, queue_mode_for
from deskpilot.observability.logging import make_handler, uvicorn_log_config
from deskpilot.settings import Settings, load_settings
from deskpilot.web import workers as server_workers

log = logging.getLogger(__name__)

APP_FACTORY = "deskpilot.web.server:app_factory"
PACKAGE_DIR = Path(__file__).resolve().parent.parent
WORKER_LOCK_NAME = "worker.lock"

# Held open for the life of the process: closing the file would release the lock.
_held_locks: dict[Path, IO[str]] = {}


def try_acquire_worker_lock(data_dir: Path) -> bool:
    """Take the consumer lock for DATA_DIR if no other live process holds it."""
    path = (data_dir / WORKER_LOCK_NAME).resolve()
    if path in _held_locks:
        return True
    data_dir.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return False
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    _held_locks[path] = handle
    return True


def release_worker_lock(data_dir: Path) -> None:
    handle = _held_locks.pop((data_dir / WORKER_LOCK_NAME).resolve(), None)
    if handle is not None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        handle.close()


def should_run_embedded_worker(settings: Settings) -> bool:
    """Only in embedded queue mode, only when enabled, and only in the process holding the lock."""
    if queue_mode_for(settings) != "embedded" or not settings.embedded_worker:
        return False
    return try_acquire_worker_lock(settings.data_dir)


def build_app(settings: Settings) -> FastAPI:
    run_worker = should_run_embedded_worker(settings)
    if run_worker:
        log.info("process %s runs the embedded job consumer", os.getpid())
    return create_app(settings, start_worker=run_worker)


def app_factory() -> FastAPI:
    """Entry point for uvicorn (`factory=True`): every worker process reads the environment."""
    settings = load_settings()
    configure_logging(settings)
    app = build_app(settings)
    if settings.gc_tuning:
        tune_garbage_collector()
    return app


# Young-generation collections this much rarer: a request allocates thousands of objects.
GC_THRESHOLDS = (50_000, 20, 20)


def tune_garbage_collector() -> None:
    """Once the app is built, its ~hundreds of thousands of long-lived objects (modules, routes,
    models, templates) move to the permanent generation, so a full collection no longer walks
    them on a request's time; young collections run less often. Measured with
    bench/api_load.py (2 processes, 16 connections): list page p99 206-268 ms -> 88-93 ms, list
    throughput +10-25%."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def configure_logging(settings: Settings, *, quiet_jobs: bool = True) -> None:
    """Application loggers next to uvicorn's own, as text or one JSON object per line
    (DESKPILOT_LOG_FORMAT); a no-op if logging is already configured."""
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    logging.basicConfig(level=level, handlers=[make_handler(settings.resolved_log_format)])
    if quiet_jobs and level > logging.DEBUG:
        # huey logs every periodic run at INFO; in a web server that drowns the access log.
        logging.getLogger("huey").setLevel(max(level, logging.WARNING))


def serve(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    workers: int = 1,
    reload: bool = False,
) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.prometheus_multiproc_dir is not None:
        reset_multiprocess_metrics(settings.prometheus_multiproc_dir)
    options: dict[str, Any] = {
        "factory": True,
        "host": host or settings.host,
        "port": port or settings.port,
        "log_level": settings.log_level.lower(),
        "log_config": uvicorn_log_config(settings.resolved_log_format, settings.log_level),
        # Deskpilot writes its own access log (route template, duration, request id).
        "access_log": False,
    }
    if workers > 1 and not reload and server_workers.supported():
        server_workers.Supervisor(uvicorn.Config(APP_FACTORY, **options), workers).run()
        return
    uvicorn.run(
        APP_FACTORY,
        workers=None if reload else workers,
        reload=reload,
        reload_dirs=[str(PACKAGE_DIR)] if reload else None,
        **options,
    )


def reset_multiprocess_metrics(directory: Path) -> None:
    """prometheus_client's multiprocess files must not outlive the server that wrote them (a new
    process with a reused pid would add to a dead one's counters)."""
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink(missing_ok=True)
